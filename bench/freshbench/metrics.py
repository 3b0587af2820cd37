"""freshfs-mount's Prometheus endpoint: its address from the daemon's log ("metrics at
http://HOST:PORT/metrics"), scraped and parsed with prometheus_client (Debian
python3-prometheus-client)."""
import re
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

URL_IN_LOG = re.compile(r"metrics at (http://\S+/metrics)")


def urls_in(logtext):
    """Every metrics address a log announced, in order (a log shared by successive
    daemons has several)."""
    return URL_IN_LOG.findall(logtext)


def url_in(logtext):
    """The first metrics address in a daemon's log, or None."""
    found = urls_in(logtext)
    return found[0] if found else None


def wait_url(read_log, timeout=10):
    """The metrics address once read_log() shows it; RuntimeError after timeout s."""
    deadline = time.time() + timeout
    while True:
        url = url_in(read_log())
        if url or time.time() >= deadline:
            break
        time.sleep(0.02)
    if not url:
        raise RuntimeError("freshfs-mount did not log its metrics address")
    return url


def fetch(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def samples(text):
    """Every sample of a text exposition as (name, labels dict, value)."""
    return [(s.name, s.labels, s.value)
            for fam in text_string_to_metric_families(text) for s in fam.samples]


def key(name, labels):
    """A sample as the exposition writes it: name{label="value",...}."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def by_key(text, keep):
    """{name{labels}: value} of the samples whose name passes keep(name)."""
    return {key(n, l): v for n, l, v in samples(text) if keep(n)}


def scrape_log(logtext, keep, timeout=5):
    """by_key() of the endpoint a daemon's log announced: None when it announced none,
    {"error": ...} when the scrape failed."""
    url = url_in(logtext)
    if not url:
        return None
    try:
        return by_key(fetch(url, timeout), keep)
    except OSError as e:
        return {"error": str(e)}


def total(text, name, **want):
    """Sum of the samples of `name` whose labels include `want`."""
    return sum(v for n, l, v in samples(text)
               if n == name and all(l.get(k) == w for k, w in want.items()))


def value(url, name):
    """The first sample of `name` at url, or None."""
    return next((v for n, _, v in samples(fetch(url)) if n == name), None)
