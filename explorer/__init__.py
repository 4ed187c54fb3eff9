"""The app package: what only the Streamlit app needs, on top of the `sw_core` library.

- session.py: the shared model (cached once per process), the URL's model choice, error display
- computed.py: cached results of sw_core computations (detection, perplexity, stop words, ...)
- quant_cache.py: quantized copies, kept within a byte budget; catalog_check.py, mechanism_cache.py
- jobs.py: the bounded, first-come-first-served queue for heavy work (background work yields to it)
- precompute.py: the edited numbers and texts a page's next click asks for, computed ahead
- urlstate.py + urlcodec.py: page state <-> URL
- edit_controls.py, quant_controls.py, generation.py, figures.py, quant_figure.py, downloads.py:
  widgets and figures the screens share
- limits.py + public.py: input caps and public mode (a shared server)

Screens (`app_pages/`) only arrange widgets; they import from here, never the reverse.
"""
