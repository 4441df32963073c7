"""Reading tables, fitted preprocessing, and windowing."""
