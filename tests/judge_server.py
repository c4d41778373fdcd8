"""A fake OpenAI-compatible chat endpoint for the judge tests: real HTTP on 127.0.0.1 (a free port),
POST /v1/chat/completions answered by a function of the question, with faults on demand.

`server.faults` is consumed one item per request: an HTTP status (429, 500...), (status, headers),
"slow" (answer after `server.slow_s`, past the client's timeout), "hang" (no answer until
`server.release` is set, then the connection just closes), "trickle" (the answer's body one byte
every `server.trickle_s`, so that no single read waits long), "trickle-head" (its status line and
headers too), or an HTTP 200 whose body is no chat completion: "malformed" (truncated JSON),
"shapeless" (JSON without choices) or "html" (text/html). With `server.hang_after = k`, every
request after the first k hangs; `server.delay_s` delays every answer (so that concurrent jobs
overlap); `server.echo(authorization)` is a text added to every answer and to its body (field
"echo"), as a debugging proxy that echoes the request's headers does. `server.log` holds one entry
per request; `server.answered` counts the answers delivered per question (a question paid twice
shows as 2).
"""

import argparse
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BAD_BODIES = {  # HTTP 200 bodies a broken proxy or server might send: (body, headers, content type)
    "malformed": (b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"index": 0, "mess', (), "application/json"),
    "shapeless": ({"id": "chatcmpl-x", "object": "chat.completion"}, (), "application/json"),
    "html": (b"<html><body>502 Bad Gateway</body></html>", (), "text/html"),
}
TRICKLES = ("trickle", "trickle-head")


def default_answer(question):
    return "Comparison: both are fine.\nMore helpful: A"


def longer_answer(question):
    """A judge that prefers the longer response (GPT-4's known bias), in the format the prompts ask:
    consistent when the two are swapped, so that Table 1 shows wins and losses, not ties."""
    a, b = (len(re.search(rf"^Response {x}: (.*)$", question, re.MULTILINE)[1].split()) for x in "AB")
    criterion = re.findall(r"^More (\w+):", question, re.MULTILINE)[-1]
    return f"Comparison: the {'first' if a >= b else 'second'} says more.\nMore {criterion}: {'A' if a >= b else 'B'}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def send_json(self, status, body, headers=(), content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in dict(headers).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def trickle(self, body, head_too):
        """A 200 whose body (and head, with `head_too`) arrives one byte every server.trickle_s."""
        head = (f"{self.protocol_version} 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        data, start = head + body, 0 if head_too else len(head)
        try:
            self.wfile.write(data[:start])
            for i in range(start, len(data)):
                if self.server.release.wait(self.server.trickle_s):  # the server is stopping
                    return
                self.wfile.write(data[i:i + 1])
        except OSError:  # the client gave up and closed the connection
            return

    def do_POST(self):
        srv = self.server
        if self.path != "/v1/chat/completions":
            return self.send_json(404, {"error": {"message": f"no route {self.path}"}})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        question = body["messages"][-1]["content"]
        with srv.lock:
            fault = srv.faults.pop(0) if srv.faults else None
            if fault is None and srv.hang_after is not None and srv.received >= srv.hang_after:
                fault = "hang"
            srv.received += 1
            entry = {"question": question, "auth": self.headers.get("Authorization"), "fault": fault,
                     "model": body.get("model"), "temperature": body.get("temperature"),
                     "max_tokens": body.get("max_tokens")}
            srv.log.append(entry)
        if fault == "hang":
            srv.release.wait(60)
            self.close_connection = True
            return None
        if isinstance(fault, str) and fault in BAD_BODIES:
            return self.send_json(200, *BAD_BODIES[fault])
        if fault is not None and fault != "slow" and fault not in TRICKLES:
            status, headers = fault if isinstance(fault, tuple) else (fault, {})
            message = srv.error_message(self.headers.get("Authorization")) if srv.error_message else "fault"
            return self.send_json(status, {"error": {"message": message, "type": "test", "code": status}},
                                  headers)
        time.sleep(srv.slow_s if fault == "slow" else srv.delay_s)
        answer = srv.answer(question)
        echo = {} if srv.echo is None else {"echo": srv.echo(self.headers.get("Authorization"))}
        if echo:
            answer = f"{echo['echo']}\n{answer}"
        usage = {"prompt_tokens": len(question.split()), "completion_tokens": len(answer.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        completion = {"id": f"chatcmpl-{len(srv.log)}", "object": "chat.completion", "created": int(time.time()),
                      "model": body.get("model"), "usage": usage, **echo,
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": answer}}]}
        if fault in TRICKLES:
            return self.trickle(json.dumps(completion).encode(), head_too=fault == "trickle-head")
        try:
            self.send_json(200, completion)
        except OSError:  # the client gave up (timeout) and closed the connection
            return None
        with srv.lock:
            if fault is None:
                srv.answered[question] += 1
                srv.usage["prompt_tokens"] += usage["prompt_tokens"]
                srv.usage["completion_tokens"] += usage["completion_tokens"]
        return None


def start(answer=default_answer, port=0):
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.answer, server.faults, server.slow_s, server.hang_after, server.delay_s = answer, [], 1.0, None, 0.0
    server.error_message = None  # fn(Authorization header) -> error text, to test that keys are redacted
    server.echo, server.trickle_s = None, 0.5
    server.log, server.answered, server.usage, server.received = [], Counter(), Counter(), 0
    server.lock, server.release = threading.Lock(), threading.Event()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def stop(server):
    server.release.set()
    server.shutdown()
    server.server_close()


def main(argv=None):
    """`python -m tests.judge_server [--port N]`: the longer-answer judge until killed (paper-mini)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    server = start(longer_answer, parser.parse_args(argv).port)
    print(f"url={server.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
