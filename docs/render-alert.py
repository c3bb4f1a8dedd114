#!/usr/bin/python3
"""Draw the README's picture of an alert, as a phone's Telegram shows it, from a demo run.

    make demo                      # writes demo-photos/<run>/ (photos and chat.jsonl)
    docs/render-alert.py demo-photos/<run> docs/alert.png

It takes the run's last alert album, the message with its buttons that replies to it, and the
message before it, with their own texts and photos; nothing in the picture is made up.
Needs python3-pil, fonts-dejavu-core and fonts-noto-color-emoji (Debian packages).
"""

import html
import json
import re
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WIDTH = 720
MARGIN = 18
BUBBLE = 560  # widest bubble
PAD = 14
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
EMOJI = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
SIZE = 22
BACKGROUND = (214, 226, 236)
HEADER = (81, 125, 162)
WHITE = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (120, 130, 140)
BUTTON = (170, 190, 205)

font = ImageFont.truetype(FONT, SIZE)
bold = ImageFont.truetype(BOLD, SIZE)
small = ImageFont.truetype(FONT, 17)
# Noto's colour emoji only exist at 109 px; they are drawn there and scaled down.
emoji_font = ImageFont.truetype(EMOJI, 109)


def is_emoji(ch):
    return ord(ch) >= 0x2190 and ch not in "—–…→←·✓"


def runs(markup):
    """(text, bold) pieces of a Telegram HTML text; tags other than <b>/<strong> dropped."""
    out = []
    bolded = False
    for part in re.split(r"(<[^>]+>)", markup):
        if part.startswith("<"):
            tag = part.strip("</>").split()[0].lower() if part.strip("</>") else ""
            if tag in ("b", "strong"):
                bolded = not part.startswith("</")
            continue
        if part:
            out.append((html.unescape(part), bolded))
    return out


def glyph_width(ch, f):
    if is_emoji(ch):
        return SIZE + 4
    return f.getlength(ch)


def wrap(markup, width):
    """Lines of (char, bold) that fit `width` pixels, broken at spaces where possible."""
    lines = []
    for paragraph in markup.split("\n"):
        # The emoji variation selector only asks for the colour form, which is drawn anyway.
        chars = [(c, b) for text, b in runs(paragraph) for c in text if c != "\ufe0f"]
        line, used, last_space = [], 0.0, -1
        for c, b in chars:
            w = glyph_width(c, bold if b else font)
            if used + w > width and line:
                if last_space > 0:
                    rest = line[last_space + 1 :]
                    lines.append(line[:last_space])
                    line = rest
                else:
                    lines.append(line)
                    line = []
                used = sum(glyph_width(x, bold if y else font) for x, y in line)
                last_space = -1
            if c == " ":
                last_space = len(line)
            line.append((c, b))
            used += w
        lines.append(line)
    return lines


def draw_text(img, draw, xy, lines):
    x0, y = xy
    for line in lines:
        x = x0
        for c, b in line:
            if is_emoji(c):
                tile = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
                ImageDraw.Draw(tile).text((0, 0), c, font=emoji_font, embedded_color=True)
                tile = tile.resize((SIZE + 4, SIZE + 2), Image.LANCZOS)
                img.paste(tile, (int(x), int(y + 2)), tile)
                x += SIZE + 4
            else:
                f = bold if b else font
                draw.text((x, y), c, font=f, fill=INK)
                x += f.getlength(c)
        y += SIZE + 8
    return y


def text_height(lines):
    return len(lines) * (SIZE + 8)


def album_tiles(photos):
    """Telegram's layout for up to four photos: one wide on top, the rest in a row below."""
    first = photos[0]
    top_h = int(BUBBLE * first.height / first.width)
    tiles = [(first, (0, 0, BUBBLE, top_h))]
    rest = photos[1:4]
    if rest:
        w = (BUBBLE - 4 * (len(rest) - 1)) // len(rest)
        h = int(w * rest[0].height / rest[0].width)
        for i, p in enumerate(rest):
            tiles.append((p, (i * (w + 4), top_h + 4, w, h)))
        return tiles, top_h + 4 + h
    return tiles, top_h


def fit(photo, w, h):
    scale = max(w / photo.width, h / photo.height)
    p = photo.resize((int(photo.width * scale) + 1, int(photo.height * scale) + 1), Image.LANCZOS)
    left = (p.width - w) // 2
    top = (p.height - h) // 2
    return p.crop((left, top, left + w, top + h))


def markup_of(message):
    """The message's text as Telegram HTML: as sent when it was HTML (a sendMessage's text,
    or an album's first caption), else the plain text escaped."""
    p = message.get("params", {})
    media = p.get("media")
    first = media[0] if isinstance(media, list) and media and isinstance(media[0], dict) else {}
    for part in (p, first):
        raw = part.get("text", part.get("caption"))
        if part.get("parse_mode") == "HTML" and isinstance(raw, str):
            return raw
    return html.escape(message.get("text") or "")


def buttons_of(message):
    markup = message.get("params", {}).get("reply_markup")
    if isinstance(markup, str):
        try:
            markup = json.loads(markup)
        except ValueError:
            return []
    if not isinstance(markup, dict):
        return []
    return [[b.get("text", "") for b in row] for row in markup.get("inline_keyboard", [])]


def flag(message, name):
    value = message.get("params", {}).get(name)
    return value in (True, "true", "True", 1, "1")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: render-alert.py DEMO-RUN-DIR OUT.png")
    run, out = Path(sys.argv[1]), Path(sys.argv[2])
    chat_file = run / "chat.jsonl"
    try:
        messages = [json.loads(l) for l in chat_file.read_text().splitlines() if l.strip()]
    except OSError as e:
        sys.exit(f"{chat_file}: {e} (run `make demo` first)")
    albums = [i for i, m in enumerate(messages) if m.get("photos")]
    if not albums:
        sys.exit(f"{chat_file}: the run has no alert album")
    a = albums[-1]
    shown = []
    if a > 0:
        shown.append(messages[a - 1])
    shown.append(messages[a])
    if a + 1 < len(messages) and buttons_of(messages[a + 1]):
        shown.append(messages[a + 1])

    # Lay out each message: (kind, height, payload).
    blocks = []
    for m in shown:
        text = markup_of(m)
        lines = wrap(text, BUBBLE - 2 * PAD) if text else []
        if m.get("photos"):
            photos = [Image.open(run / f).convert("RGB") for f in m["photos"]]
            tiles, h = album_tiles(photos)
            blocks.append(("album", h + (text_height(lines) + 2 * PAD if lines else 0), (tiles, lines, m)))
        else:
            rows = buttons_of(m)
            note = 24 if flag(m, "disable_notification") else 0
            h = text_height(lines) + 2 * PAD + note + len(rows) * 52
            blocks.append(("text", h, (lines, rows, m)))

    header_h = 84
    height = header_h + MARGIN + sum(b[1] + MARGIN for b in blocks) + MARGIN
    img = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, WIDTH, header_h), fill=HEADER)
    draw.ellipse((18, 14, 74, 70), fill=(230, 120, 80))
    draw.text((32, 26), "S", font=ImageFont.truetype(BOLD, 30), fill=WHITE)
    draw.text((90, 14), "Secura-Pi-Cam", font=ImageFont.truetype(BOLD, 26), fill=WHITE)
    draw.text((90, 48), "bot", font=small, fill=(220, 230, 240))

    y = header_h + MARGIN
    for kind, h, payload in blocks:
        x = MARGIN
        if kind == "album":
            tiles, lines, m = payload
            draw.rounded_rectangle((x, y, x + BUBBLE, y + h), radius=16, fill=WHITE)
            for photo, (tx, ty, tw, th) in tiles:
                img.paste(fit(photo, tw, th), (x + tx, y + ty))
            ty = y + h - (text_height(lines) + 2 * PAD if lines else 0)
            if lines:
                draw_text(img, draw, (x + PAD, ty + PAD), lines)
            if flag(m, "protect_content"):
                draw.text((x + BUBBLE - 150, y + h - 26), "protected", font=small, fill=MUTED)
        else:
            lines, rows, m = payload
            body = text_height(lines) + 2 * PAD + (24 if flag(m, "disable_notification") else 0)
            width = BUBBLE if rows else min(
                BUBBLE, int(max((sum(glyph_width(c, font) for c, _ in l) for l in lines), default=0)) + 2 * PAD + 40
            )
            draw.rounded_rectangle((x, y, x + width, y + body), radius=16, fill=WHITE)
            draw_text(img, draw, (x + PAD, y + PAD), lines)
            note = "silent" if flag(m, "disable_notification") else ""
            if note:
                draw.text((x + width - 70, y + body - 26), note, font=small, fill=MUTED)
            by = y + body + 6
            for row in rows:
                bw = (BUBBLE - 6 * (len(row) - 1)) // max(len(row), 1)
                for i, label in enumerate(row):
                    bx = x + i * (bw + 6)
                    draw.rounded_rectangle((bx, by, bx + bw, by + 44), radius=10, fill=BUTTON)
                    tw = sum(glyph_width(c, bold) for c in label)
                    draw_text(img, draw, (bx + (bw - tw) / 2, by + 8), [[(c, True) for c in label]])
                by += 52
        y += h + MARGIN
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, optimize=True)
    print(f"{out}: {img.width}×{img.height}, from {chat_file}")


if __name__ == "__main__":
    main()
