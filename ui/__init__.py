"""Streamlit glue shared by the pages: the only place besides views/ that imports streamlit."""
