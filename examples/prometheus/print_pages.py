"""A stand-in pager for "Monitor this machine" (README): Alertmanager's webhook receiver on
127.0.0.1:9095 that prints each page (time, firing/resolved, alert, summary). Replace it with your
real receiver in alertmanager.yml.

    python examples/prometheus/print_pages.py
"""

import http.server
import json
import time


class Pages(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        for alert in body.get("alerts", []):
            print(time.strftime("%H:%M:%S"), alert.get("status"), alert["labels"].get("alertname"),
                  alert["annotations"].get("summary", ""), flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    http.server.HTTPServer(("127.0.0.1", 9095), Pages).serve_forever()
