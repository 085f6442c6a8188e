#!/usr/bin/env python3
"""Conformance runner for the peerlink wire protocol, version 1.

Runs every case in this directory (one JSON file per case) against a real
node process that it starts and stops itself, one fresh process per case.
It uses the Python 3.11 standard library only and no peerlink code: what it
knows of the protocol is in the cases, as bytes. See README.md for the case
format and for running the suite against another implementation.

Exit status: 0 if every selected case passed, 1 if any failed, 2 on bad
usage.
"""

import argparse
import concurrent.futures
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# How long the node may take to start listening.
START_TIMEOUT_S = 10.0
# How long the node may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT_S = 5.0
# Frames the runner reads from the node are at most this long (the node
# under test sends only control frames to the runner).
MAX_READ_FRAME = 1 << 20
PING = 0x04
PONG = 0x05


class CaseFailed(Exception):
    """A step's expectation was not met."""


# ---------------------------------------------------------------- patterns

TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)(?::(\d+))?\}|\?\?|[0-9a-fA-F]{2}|\s+|.")


def parse_pattern(text):
    """A pattern as a list of items: ("byte", b), ("any",), ("var", name, n)."""
    items = []
    for m in TOKEN.finditer(text):
        tok = m.group(0)
        if tok.isspace():
            continue
        if m.group(1):
            n = int(m.group(2)) if m.group(2) else None
            items.append(("var", m.group(1), n))
        elif tok == "??":
            items.append(("any",))
        elif len(tok) == 2:
            items.append(("byte", int(tok, 16)))
        else:
            raise ValueError("bad character %r in hex pattern %r" % (tok, text))
    return items


def render(text, env):
    """The bytes of a send pattern: hex, with {name} replaced by a variable."""
    out = bytearray()
    for item in parse_pattern(text):
        if item[0] == "byte":
            out.append(item[1])
        elif item[0] == "var":
            if item[1] not in env:
                raise CaseFailed("variable {%s} is not set" % item[1])
            out += env[item[1]]
        else:
            raise ValueError("?? is only allowed in expectations")
    return bytes(out)


def match(text, data, env):
    """Matches `data` against pattern `text`, capturing new variables into
    `env`; returns None on a match, else a description of the mismatch."""
    pos = 0
    captured = {}
    for item in parse_pattern(text):
        if item[0] == "byte":
            if pos >= len(data) or data[pos] != item[1]:
                return "byte %d differs" % pos
            pos += 1
        elif item[0] == "any":
            if pos >= len(data):
                return "too short at byte %d" % pos
            pos += 1
        else:
            name, n = item[1], item[2]
            known = env.get(name, captured.get(name))
            if known is not None and n is not None and len(known) != n:
                return "variable {%s} has %d bytes, pattern wants %d" % (name, len(known), n)
            if known is None and n is None:
                return "variable {%s} is not set and has no length to capture" % name
            size = len(known) if known is not None else n
            chunk = data[pos:pos + size]
            if len(chunk) < size:
                return "too short for {%s}" % name
            if known is not None and chunk != known:
                return "{%s} is %s, expected %s" % (name, chunk.hex(), known.hex())
            captured[name] = bytes(chunk)
            pos += size
    if pos != len(data):
        return "%d bytes more than the pattern" % (len(data) - pos)
    env.update(captured)
    return None


# ---------------------------------------------------------------- sockets

class Conn:
    """One TCP connection of the runner, with its read buffer."""

    def __init__(self, name, sock):
        self.name = name
        self.sock = sock
        self.buf = bytearray()
        self.eof = None  # None while open; else "eof" or "reset"

    def fill(self, deadline):
        """Reads once, waiting until `deadline`; False on timeout."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([self.sock], [], [], left)
        if not ready:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            self.eof = "reset"
            return True
        if not chunk:
            self.eof = "eof"
        self.buf += chunk
        return True

    def next_frame(self, deadline):
        """The next whole frame (prefix included), "close" when the stream
        ended, or None at the deadline."""
        while True:
            if len(self.buf) >= 4:
                n = int.from_bytes(self.buf[:4], "big")
                if n > MAX_READ_FRAME:
                    raise CaseFailed("%s: node sent a frame of %d bytes" % (self.name, n))
                if len(self.buf) >= 4 + n:
                    frame = bytes(self.buf[:4 + n])
                    del self.buf[:4 + n]
                    return frame
            if self.eof:
                return "close"
            if not self.fill(deadline):
                return None

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise CaseFailed("%s: send failed: %s" % (self.name, e))


def is_listening(ip, port):
    """Whether a socket listens on ip:port. On Linux the kernel's table says
    so without touching the port; elsewhere a bind probe answers (it fails
    with EADDRINUSE once the node listens, but also if any other socket
    holds that address, so it is a fallback only)."""
    try:
        with open("/proc/net/tcp") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
            return False
        except OSError:
            return True
        finally:
            s.close()
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton(ip), "little"), port)
    return any(r.split()[1] == want and r.split()[3] == "0A" for r in rows)


def free_port(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- a case

PLACEHOLDERS = ("{listen}", "{listen_ip}", "{listen_port}", "{peers}", "{settings}")


def node_args(node_cmd, ip, port, peers, settings):
    """The node's command line. Without placeholders, `node_cmd` is
    followed by --listen IP:PORT, one --peer IP:PORT per peer and one
    --name value per setting. With any of the placeholders, the template is
    split like a shell would and each word has them replaced: {listen}
    (IP:PORT), {listen_ip}, {listen_port}, {peers} (IP:PORT,IP:PORT or
    empty) and {settings} (a word that is exactly {settings} becomes the
    --name value flags; elsewhere it is an error)."""
    flags = []
    for key, value in sorted(settings.items()):
        for one in value if isinstance(value, list) else [value]:
            flags += ["--" + key.replace("_", "-"), str(one)]
    words = shlex.split(node_cmd)
    if not any(p in node_cmd for p in PLACEHOLDERS):
        args = words + ["--listen", "%s:%d" % (ip, port)]
        for peer in peers:
            args += ["--peer", peer]
        return args + flags
    args = []
    for word in words:
        if word == "{settings}":
            args += flags
            continue
        if "{settings}" in word:
            raise SystemExit("--node-cmd: {settings} must be a word of its own")
        args.append(word.replace("{listen}", "%s:%d" % (ip, port))
                    .replace("{listen_ip}", ip)
                    .replace("{listen_port}", str(port))
                    .replace("{peers}", ",".join(peers)))
    return args


class Run:
    """One case against one fresh node process."""

    def __init__(self, case, node_cmd, log_dir, node_ip):
        self.case = case
        # Each case's node listens on an address of its own, so cases that
        # run in parallel never race for a port.
        self.node_ip = node_ip
        self.node_cmd = node_cmd
        self.log_dir = log_dir
        self.conns = {}
        self.listeners = {}
        self.env = {}
        self.proc = None
        self.log_path = None
        self.trace = []

    def note(self, text):
        self.trace.append("%8.3f  %s" % (time.monotonic() - self.t0, text))

    # -- node process

    def start_node(self):
        """Starts the node on a free port; a port taken between our probe and
        the node's bind (by a case running in parallel) is retried."""
        for attempt in range(3):
            if self.start_node_once():
                return
            self.note("node exited before listening (port taken?); retrying")
        raise CaseFailed("node exited with %s before listening, three times"
                         % self.proc.returncode)

    def start_node_once(self):
        ip = self.node_ip
        port = free_port(ip)
        self.node_addr = (ip, port)
        self.env["node_port"] = port.to_bytes(2, "big")
        args = node_args(self.node_cmd, ip, port, [
            "%s:%d" % self.listeners[peer].getsockname() for peer in self.case.get("peers", [])
        ], self.case.get("settings", {}))
        fd, self.log_path = tempfile.mkstemp(
            prefix=self.case["name"] + "-", suffix=".log", dir=self.log_dir)
        log = os.fdopen(fd, "w")
        self.note("start: " + " ".join(shlex.quote(a) for a in args))
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "debug")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not is_listening(ip, port):
            if self.proc.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise CaseFailed("node did not listen on %s:%d within %.0f s"
                                 % (ip, port, START_TIMEOUT_S))
            time.sleep(0.005)
        if self.proc.poll() is not None:
            return False
        self.note("node listens on %s:%d" % (ip, port))
        return True

    def stop_node(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # -- steps

    def run(self):
        self.t0 = time.monotonic()
        try:
            for name, ip in sorted(self.case.get("listeners", {}).items()):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((ip, 0))
                s.listen(16)
                self.listeners[name] = s
            self.start_node()
            for i, step in enumerate(self.case["steps"]):
                self.step_index = i
                self.note("step %d: %s" % (i, json.dumps(step)))
                getattr(self, "op_" + step["op"])(step)
            return None
        except CaseFailed as e:
            return "step %d (%s): %s" % (self.step_index, self.case["steps"][self.step_index]["op"], e) \
                if hasattr(self, "step_index") else str(e)
        finally:
            for c in self.conns.values():
                c.sock.close()
            for s in self.listeners.values():
                s.close()
            self.stop_node()

    def conn(self, step):
        name = step["conn"]
        if name not in self.conns:
            raise CaseFailed("no connection named %r" % name)
        return self.conns[name]

    def op_connect(self, step):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((step.get("from", "127.0.0.1"), 0))
        s.settimeout(5)
        try:
            s.connect(self.node_addr)
        except OSError as e:
            raise CaseFailed("connect to the node failed: %s" % e)
        s.setblocking(True)
        s.settimeout(None)
        self.conns[step["conn"]] = Conn(step["conn"], s)

    def op_accept(self, step):
        listener = self.listeners[step["listener"]]
        ready, _, _ = select.select([listener], [], [], step.get("within_ms", 3000) / 1000)
        if not ready:
            raise CaseFailed("the node did not connect to listener %r within %d ms"
                             % (step["listener"], step.get("within_ms", 3000)))
        s, addr = listener.accept()
        self.note("accepted from %s:%d" % addr)
        if "from" in step and addr[0] != step["from"]:
            raise CaseFailed("node connected from %s, expected %s" % (addr[0], step["from"]))
        self.conns[step["conn"]] = Conn(step["conn"], s)

    def op_no_accept(self, step):
        listener = self.listeners[step["listener"]]
        ready, _, _ = select.select([listener], [], [], step["for_ms"] / 1000)
        if ready:
            s, addr = listener.accept()
            s.close()
            raise CaseFailed("the node connected to listener %r from %s:%d"
                             % (step["listener"], addr[0], addr[1]))

    def op_send(self, step):
        c = self.conn(step)
        c.send(render(step["hex"], self.env))

    def op_close(self, step):
        c = self.conn(step)
        if step.get("how") == "shutdown_write":
            c.sock.shutdown(socket.SHUT_WR)
        else:
            c.sock.close()
            del self.conns[step["conn"]]

    def op_sleep(self, step):
        time.sleep(step["ms"] / 1000)

    def op_stop_node(self, step):
        self.proc.send_signal(signal.SIGTERM)

    def read_until(self, step, deadline):
        """Reads frames, skipping (and answering, if asked) the types in
        `skip`, until one that is not skipped, a close, or the deadline."""
        c = self.conn(step)
        skip = {int(t, 16) for t in step.get("skip", [])}
        while True:
            frame = c.next_frame(deadline)
            if frame is None or frame == "close":
                return frame
            kind = frame[4] if len(frame) > 4 else None
            if kind in skip:
                self.note("%s: skipped %s" % (c.name, frame.hex()))
                if kind == PING and step.get("answer_pings"):
                    c.send(frame[:4] + bytes([PONG]) + frame[5:])
                continue
            return frame

    def read_within(self, step):
        """The next frame (or "close", or None) within the step's
        `within_ms` (2000 by default), the limit, and the milliseconds it
        took."""
        start = time.monotonic()
        within = step.get("within_ms", 2000)
        got = self.read_until(step, start + within / 1000)
        return got, within, (time.monotonic() - start) * 1000

    def op_expect(self, step):
        frame, within, elapsed = self.read_within(step)
        if frame is None:
            raise CaseFailed("no frame within %d ms, expected %s" % (within, step["hex"]))
        if frame == "close":
            raise CaseFailed("connection closed, expected %s" % step["hex"])
        self.note("%s: got %s after %.0f ms" % (step["conn"], frame.hex(), elapsed))
        why = match(step["hex"], frame, self.env)
        if why:
            raise CaseFailed("got %s, expected %s (%s)" % (frame.hex(), step["hex"], why))
        if elapsed < step.get("not_before_ms", 0):
            raise CaseFailed("%s arrived after %.0f ms, expected not before %d ms"
                             % (frame.hex(), elapsed, step["not_before_ms"]))

    def op_expect_close(self, step):
        got, within, elapsed = self.read_within(step)
        if got is None:
            raise CaseFailed("still open after %d ms" % within)
        if got != "close":
            raise CaseFailed("got %s, expected the connection to close" % got.hex())
        self.note("%s: closed (%s) after %.0f ms" % (step["conn"], self.conn(step).eof, elapsed))
        if elapsed < step.get("not_before_ms", 0):
            raise CaseFailed("closed after %.0f ms, expected not before %d ms"
                             % (elapsed, step["not_before_ms"]))

    def op_expect_silence(self, step):
        start = time.monotonic()
        got = self.read_until(step, start + step["for_ms"] / 1000)
        if got == "close":
            raise CaseFailed("connection closed, expected it to stay open")
        if got is not None:
            raise CaseFailed("got %s, expected nothing for %d ms" % (got.hex(), step["for_ms"]))

    def op_check(self, step):
        """A captured variable, read as a big-endian unsigned integer, lies
        within [min, max]."""
        if step["var"] not in self.env:
            raise CaseFailed("variable {%s} is not set" % step["var"])
        value = int.from_bytes(self.env[step["var"]], "big")
        self.note("{%s} = %d" % (step["var"], value))
        if not step.get("min", 0) <= value <= step.get("max", value):
            raise CaseFailed("{%s} is %d, expected %d..%d"
                             % (step["var"], value, step.get("min", 0), step.get("max", value)))

    def op_expect_node_exit(self, step):
        try:
            code = self.proc.wait(step.get("within_ms", 3000) / 1000)
        except subprocess.TimeoutExpired:
            raise CaseFailed("node still running")
        if code != step.get("code", 0):
            raise CaseFailed("node exited with %d, expected %d" % (code, step.get("code", 0)))


# ---------------------------------------------------------------- main

def load_cases(directory):
    cases = []
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".json"):
            with open(os.path.join(directory, entry)) as f:
                case = json.load(f)
            expected = entry[:-len(".json")]
            if case.get("name") != expected:
                raise SystemExit("%s: \"name\" must be %r" % (entry, expected))
            cases.append(case)
    return cases


def run_case(case, node_cmd, log_dir, index):
    started = time.monotonic()
    run = Run(case, node_cmd, log_dir, "127.0.1.%d" % (index % 250 + 1))
    failure = run.run()
    return case["name"], failure, time.monotonic() - started, run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--node", help="path of the peerlink-node binary")
    how.add_argument("--node-cmd", help="command (or template with {listen}, {peers}, {settings}...) "
                     "that starts the implementation under test (see README.md)")
    parser.add_argument("--cases", default=os.path.join(HERE, "cases"), help="directory of case files (default: cases/ beside this file)")
    parser.add_argument("--only", action="append", default=[],
                        help="run only cases whose name contains this (repeatable)")
    parser.add_argument("--jobs", type=int, default=6, help="cases run in parallel (default 6)")
    parser.add_argument("--verbose", action="store_true", help="print every case's trace")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the node logs even if every case passed")
    args = parser.parse_args()
    node_cmd = args.node_cmd or shlex.quote(args.node)
    cases = load_cases(args.cases)
    if args.only:
        cases = [c for c in cases if any(o in c["name"] for o in args.only)]
    if not cases:
        print("no cases selected", file=sys.stderr)
        return 2
    log_dir = tempfile.mkdtemp(prefix="peerlink-conformance-")
    started = time.monotonic()
    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_case, c, node_cmd, log_dir, i) for i, c in enumerate(cases)]
        for future in concurrent.futures.as_completed(futures):
            name, failure, seconds, run = future.result()
            print("%s %-44s %6.2f s" % ("ok  " if failure is None else "FAIL", name, seconds),
                  flush=True)
            if failure is not None or args.verbose:
                if failure is not None:
                    failed.append(name)
                    print("     " + failure)
                for line in run.trace:
                    print("     " + line)
                if failure is not None and run.log_path:
                    with open(run.log_path, errors="replace") as f:
                        tail = f.read().splitlines()[-30:]
                    print("     node log (%s), last lines:" % run.log_path)
                    for line in tail:
                        print("       " + line)
    total = time.monotonic() - started
    if failed or args.keep_logs:
        print("node logs kept in %s" % log_dir)
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    print("%d passed, %d failed, %d cases in %.1f s" % (len(cases) - len(failed), len(failed),
                                                       len(cases), total))
    if failed:
        print("failed: " + ", ".join(sorted(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
