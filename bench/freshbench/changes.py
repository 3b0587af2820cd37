"""The source changes of the visibility-latency phases (bench/freshness, bench/s3):
change j of a kind is a file (object) that starts with token(tag, j)."""


def token(tag, j):
    return f"{tag}-{j:05d}-"


def content(tag, j, size):
    head = token(tag, j).encode()
    return head + b"x" * (size - len(head))
