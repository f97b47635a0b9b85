"""Portrait: customer data analysis and customer-portrait (客户画像) generator."""

__version__ = "0.1.0"
