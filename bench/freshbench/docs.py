"""The generated sections of docs/benchmarks.md."""
import os


def replace_marked(path, begin, end, section, place=None):
    """Replaces the text between the markers begin and end (both included, both in
    section) with section; without the markers, place(text, section) gives the new text
    (default: section appended)."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    if begin in text and end in text:
        pre, rest = text.split(begin, 1)
        text = pre + section + rest.split(end, 1)[1]
    elif place:
        text = place(text, section)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def replace_heading(path, heading, section):
    """Replaces the "## " section whose heading line is `heading` up to the next "## "
    heading with section (which starts with that heading); appends it if missing."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    lines = text.split("\n")
    try:
        start = lines.index(heading)
    except ValueError:
        text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        tail = "\n".join(lines[end:])
        text = "\n".join(lines[:start]) + "\n" + section.rstrip("\n") + "\n" + (
            "\n" + tail if tail.strip() else "")
        text = text.rstrip("\n") + "\n"
    with open(path, "w") as f:
        f.write(text)
