"""The app package: what only the Streamlit app needs, on top of the `sw_core` library.

- cached.py: every cached result, shared by every session: the loaded models, detection, perplexity,
  stop words, mechanism views, the catalog check, quantized copies (kept within a byte budget)
- session.py: the model the sidebar picked, the detection a page starts from, error display
- jobs.py: the bounded, first-come-first-served queue for heavy work (background work yields to it)
- precompute.py: the edited numbers and texts a page's next click asks for, computed ahead
- lanes.py + continuation.py: a click's work side by side, one torch thread each (texts computed
  in threads of their own, followed by the page as they grow)
- urlstate.py + urlcodec.py: page state <-> URL
- edit_controls.py, quant_controls.py, generation.py, figures.py, downloads.py:
  widgets, edits and figures the screens share (figures.py hands them the library's drawings too)
- limits.py + public.py: input caps and public mode (a shared server)

Screens (`app_pages/`) only arrange widgets; they import from here (never `sw_core` directly), never
the reverse.
"""
