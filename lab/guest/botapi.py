#!/usr/bin/env python3
"""A Telegram Bot API stand-in for the lab, run inside the guest on loopback.

It answers what botd calls (getMe, getUpdates with its long-poll timeout, sendMessage,
sendPhoto, sendMediaGroup, setMyCommands, deleteMyCommands, deleteWebhook,
answerCallbackQuery) and appends one JSON line per request to the record file: the method,
the chat, the text or caption, and for uploads the number and sizes of the files. Photos are
written beside the record so the scenario can check them. An owner's message is a file
`inbox/<name>.json` beside the record, {"user": ID, "text": "/photo"}: the next getUpdates
delivers it (dated then) and removes it. Usage: botapi.py PORT RECORD_FILE
"""

import email.parser
import email.policy
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOT_ID = 7000000001
METHODS = {m.lower(): m for m in (
    "getMe", "getUpdates", "sendMessage", "sendPhoto", "sendMediaGroup", "setMyCommands",
    "deleteMyCommands", "deleteWebhook", "answerCallbackQuery")}
lock = threading.Lock()
counter = {"message_id": 0, "update_id": 0}


def next_id(kind="message_id"):
    with lock:
        counter[kind] += 1
        return counter[kind]


def inbox_updates(inbox):
    """The owners' messages waiting in the inbox, as Telegram updates."""
    updates = []
    for name in sorted(os.listdir(inbox)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(inbox, name)
        try:
            with open(path) as f:
                m = json.load(f)
            os.unlink(path)
        except (OSError, ValueError):
            continue
        user, text = int(m["user"]), str(m["text"])
        message = {
            "message_id": next_id(),
            "from": {"id": user, "is_bot": False, "first_name": "Owner", "language_code": "en"},
            "chat": {"id": user, "type": "private", "first_name": "Owner"},
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0].encode("utf-16-le")) // 2}]
        updates.append({"update_id": next_id("update_id"), "message": message})
    return updates


def parse_body(content_type, body):
    """The request's fields, and its uploaded files as (field, bytes)."""
    fields, files = {}, []
    if content_type.startswith("application/json"):
        value = json.loads(body or b"{}")
        if isinstance(value, dict):
            fields = value
    elif content_type.startswith("multipart/form-data"):
        head = b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if part.get_filename():
                files.append((name, data))
            else:
                fields[name] = data.decode("utf-8", "replace")
    elif body:
        fields = dict(urllib.parse.parse_qsl(body.decode()))
    return fields, files


def message(chat_id, extra):
    m = {
        "message_id": next_id(),
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Lab", "username": "lab_bot"},
        "chat": {"id": chat_id, "type": "private", "first_name": "Owner"},
        "date": int(time.time()),
    }
    m.update(extra)
    return m


class Handler(BaseHTTPRequestHandler):
    record = None
    photos = None
    inbox = None

    def log_message(self, fmt, *args):
        pass

    def answer(self, result):
        body = json.dumps({"ok": True, "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        parsed = urllib.parse.urlsplit(self.path)
        # Telegram's method names are case-insensitive (teloxide sends "SendMessage").
        name = parsed.path.rsplit("/", 1)[-1]
        method = METHODS.get(name.lower(), name)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fields, files = parse_body(self.headers.get("Content-Type", ""), body)
        fields.update(dict(urllib.parse.parse_qsl(parsed.query)))
        try:
            chat = int(fields.get("chat_id", 0))
        except (TypeError, ValueError):
            chat = 0
        entry = {"time": time.time(), "method": method, "chat": chat}
        if "text" in fields:
            entry["text"] = fields["text"]
        if "caption" in fields:
            entry["caption"] = fields["caption"]
        if method == "sendMediaGroup" and "media" in fields:
            media = fields["media"]
            if isinstance(media, str):
                media = json.loads(media)
            entry["captions"] = [m.get("caption", "") for m in media if isinstance(m, dict)]
        if files:
            entry["files"] = []
            for name, data in files:
                path = os.path.join(self.photos, "%d-%s.jpg" % (next_id(), name))
                with open(path, "wb") as f:
                    f.write(data)
                entry["files"].append({"field": name, "bytes": len(data), "path": path})
        if method != "getUpdates":
            with lock, open(self.record, "a") as f:
                f.write(json.dumps(entry) + "\n")
        if method == "getMe":
            # Every field Telegram sends for the bot itself (teloxide refuses a shorter one).
            self.answer({"id": BOT_ID, "is_bot": True, "first_name": "Lab", "username": "lab_bot",
                         "can_join_groups": False, "can_read_all_group_messages": False,
                         "supports_inline_queries": False, "can_connect_to_business": False,
                         "has_main_web_app": False})
        elif method == "getUpdates":
            # Hold the long poll (up to 5 s) until an owner's message is in the inbox.
            try:
                wait = min(float(fields.get("timeout", 0)), 5.0)
            except (TypeError, ValueError):
                wait = 0.0
            deadline = time.monotonic() + max(wait, 0.0)
            updates = inbox_updates(self.inbox)
            while not updates and time.monotonic() < deadline:
                time.sleep(0.2)
                updates = inbox_updates(self.inbox)
            for u in updates:
                with lock, open(self.record, "a") as f:
                    f.write(json.dumps({"time": time.time(), "method": "update",
                                        "chat": u["message"]["chat"]["id"],
                                        "text": u["message"]["text"]}) + "\n")
            self.answer(updates)
        elif method in ("sendMessage", "sendPhoto"):
            extra = {"text": fields.get("text", "")} if method == "sendMessage" else {
                "photo": [{"file_id": "lab", "file_unique_id": "lab", "width": 1, "height": 1}],
                "caption": fields.get("caption", ""),
            }
            self.answer(message(chat, extra))
        elif method == "sendMediaGroup":
            count = max(len(files), 1)
            self.answer([message(chat, {"photo": []}) for _ in range(count)])
        else:
            self.answer(True)

    do_GET = handle_any
    do_POST = handle_any


def main():
    port, record = int(sys.argv[1]), sys.argv[2]
    Handler.record = record
    Handler.photos = os.path.join(os.path.dirname(record), "photos")
    Handler.inbox = os.path.join(os.path.dirname(record), "inbox")
    os.makedirs(Handler.photos, exist_ok=True)
    os.makedirs(Handler.inbox, exist_ok=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
