"""A small Hugging Face-compatible hub on 127.0.0.1 for tests: the endpoints `huggingface_hub`
uses for `snapshot_download` and `hf_hub_download`, serving repos made in the test.

- GET  /api/models/{repo}/revision/{rev}: the repo's info (its commit `sha`, its files)
- GET  /api/models/{repo}/tree/{rev}: its file listing (path, size, oid)
- HEAD/GET /{repo}/resolve/{rev}/{file}: the file, with X-Repo-Commit and ETag; Range for resumes

Errors as the hub sends them: 404 + X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound,
401 + GatedRepo for a gated repo's files. `drop`: a repo whose .safetensors downloads are cut off
mid-body (the first request gets half the file, every resume none), as a failing network does.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Repo:
    files: dict[str, bytes]
    sha: str = ""
    gated: bool = False
    drop: bool = False

    def __post_init__(self):
        if not self.sha:
            h = hashlib.sha1()
            for name in sorted(self.files):
                h.update(name.encode() + self.files[name])
            self.sha = h.hexdigest()


@dataclass
class Hub:
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)  # "METHOD path" of every request received

    def add_folder(self, repo_id: str, folder: Path, **kw) -> Repo:
        files = {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}
        self.repos[repo_id] = Repo(files, **kw)
        return self.repos[repo_id]


_INFO = re.compile(r"^/api/models/([^/]+/[^/]+)/revision/([^/?]+)")
_TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/?]+)")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/([^?]+)")


def _handler(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_HEAD(self):
            self._serve(body=False)

        def do_GET(self):
            self._serve(body=True)

        def _error(self, status: int, code: str, message: str):
            data = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _json(self, obj):
            data = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _repo(self, repo_id: str, rev: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return None
            if rev not in ("main", repo.sha):
                self._error(404, "RevisionNotFound", "Invalid rev id")
                return None
            return repo

        def _serve(self, body: bool):
            hub.requests.append(f"{self.command} {self.path}")
            if m := _INFO.match(self.path):
                if repo := self._repo(m.group(1), m.group(2)):
                    self._json({"id": m.group(1), "modelId": m.group(1), "sha": repo.sha, "private": False,
                                "gated": "manual" if repo.gated else False,
                                "siblings": [{"rfilename": n} for n in sorted(repo.files)]})
            elif m := _TREE.match(self.path):
                if repo := self._repo(m.group(1), m.group(2)):
                    self._json([{"type": "file", "path": n, "size": len(d),
                                 "oid": hashlib.sha1(d).hexdigest()} for n, d in sorted(repo.files.items())])
            elif m := _RESOLVE.match(self.path):
                if repo := self._repo(m.group(1), m.group(2)):
                    self._file(repo, m.group(3), body)
            else:
                self._error(404, "EntryNotFound", "Not found")

        def _file(self, repo: Repo, name: str, body: bool):
            if repo.gated:
                self._error(401, "GatedRepo", "Access to model is restricted: you must be authenticated.")
                return
            data = repo.files.get(name)
            if data is None:
                self._error(404, "EntryNotFound", "Entry not found")
                return
            start = 0
            if rng := re.match(r"bytes=(\d+)-", self.headers.get("Range", "")):
                start = int(rng.group(1))
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", repo.sha)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return
            if repo.drop and name.endswith(".safetensors"):
                if not start:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                self.close_connection = True  # cut off: the body ends early
                return
            self.wfile.write(data[start:])

    return Handler


class Server:
    """The hub, served from a thread: `with Server(hub) as url:` ..."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> str:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self.url

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
