"""`jepawatch report`: the risk, regimes, codes, training and alerts of a bundle on a data file,
as one self-contained HTML file and, if asked, PNG files. Needs the `report` extra (matplotlib).

`gather` reads and scores (no plotting), `figures` draws (matplotlib), `html` assembles the page,
`build` checks the request and writes the files atomically.
"""

from jepawatch.report.build import ReportFiles, ReportRequest, write_report

__all__ = ["ReportFiles", "ReportRequest", "write_report"]
