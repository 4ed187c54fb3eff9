"""The app package: what only the Streamlit app needs, on top of the `sw_core` library.

- session.py: the shared model (cached once per process) and error display
- computed.py: cached results of sw_core computations (detection, perplexity, stop words, ...)
- heavy.py + jobs.py: the bounded, first-come-first-served queue for heavy work
- urlstate.py + urlcodec.py: page state <-> URL
- edit_controls.py, quant_controls.py, generation.py, downloads.py: widgets the screens share
- limits.py + public.py: input caps and public mode (a shared server)

Screens (`app_pages/`) only arrange widgets; they import from here, never the reverse.
"""
