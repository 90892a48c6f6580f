"""The page where a person ticks the titles they like (Flask), and its JSON API.

HTML contract (outside tests drive the page through it):

* each suggested title is an element with ``data-item-id="<id>"`` holding
  ``<input type="checkbox" name="liked" value="<id>">`` (ids are the catalogue's stable ids);
* the ticks are sent by the form's ``<button type="submit">`` (POST /), after which the page shows the
  next 5 and ``<table id="top-genres">`` has one ``<tr>`` per genre after its header row;
* ``<input name="q">`` (GET /?q=...) finds titles by name so they can be ticked too.

JSON: ``GET /api/suggest?liked=ID,ID&k=5`` -> ``{"suggestions": [{"id", "title", "score", "genres"}...],
"top_genres": [{"genre", "count"}...]}``; ``GET /healthz`` -> 200. Unknown or malformed ids get a 400
with a message. State lives in a signed session cookie (secret from ``$HNCF_SECRET_KEY`` or generated at
start); titles and descriptions are HTML-escaped by Jinja's autoescaping; nothing in a request names a
file.
"""

from __future__ import annotations

import os
import secrets

from flask import Flask, jsonify, redirect, request, session

from hncf.serving.recommender import Recommender, UnknownItemError

PAGE_SIZE = 5
MAX_LIKED = 100  # with MAX_SHOWN, keeps the signed cookie well under browsers' 4 KB limit
MAX_SHOWN = 150
MAX_K = 50
SECRET_ENV = "HNCF_SECRET_KEY"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>What to watch next</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 52em; margin: 1.5em auto; padding: 0 1em; color: #222; }
.item { border-bottom: 1px solid #ddd; padding: .5em 0; }
.item label { font-weight: 600; }
.meta { color: #666; font-size: .85em; }
.desc { font-style: italic; margin: .2em 0 0 1.6em; }
.error { background: #fdd; padding: .5em; }
table { border-collapse: collapse; margin-top: .5em; }
td, th { border: 1px solid #ccc; padding: .2em .6em; text-align: left; }
button { font-size: 1em; padding: .3em 1em; margin-top: .6em; }
</style>
</head>
<body>
<h1>Select the titles you like and submit</h1>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="get" action="/" role="search">
  <input name="q" type="search" value="{{ query }}" placeholder="find a title you know" aria-label="search titles">
  <input type="submit" value="Search">
</form>
{% if query %}
<section id="search-results">
<h2>Titles matching &ldquo;{{ query }}&rdquo;</h2>
{% if results %}
<form method="post" action="/">
<input type="hidden" name="from" value="search">
{% for s in results %}
<div class="item" data-item-id="{{ s.id }}">
  <label><input type="checkbox" name="liked" value="{{ s.id }}"> {{ s.title }}</label>
  <span class="meta">{{ s.year or "" }} &middot; {{ s.genres|join(", ") }}</span>
  <p class="desc">{{ s.description }}</p>
</div>
{% endfor %}
<input type="submit" value="I like these">
</form>
{% else %}<p>No title contains &ldquo;{{ query }}&rdquo;.</p>{% endif %}
</section>
{% endif %}
<section id="suggestions">
<h2>{% if liked %}Suggested for you{% else %}Some titles to start with{% endif %}</h2>
<form method="post" action="/">
{% for s in suggestions %}
<div class="item" data-item-id="{{ s.id }}">
  <label><input type="checkbox" name="liked" value="{{ s.id }}"> {{ s.title }}</label>
  <span class="meta">{{ s.year or "" }} &middot; {{ s.genres|join(", ") }}</span>
  <p class="desc">{{ s.description }}</p>
</div>
{% endfor %}
<button type="submit">Submit</button>
</form>
</section>
<section id="genres">
<h2>Your top genres</h2>
<table id="top-genres">
<tr><th>Genre</th><th>Count</th></tr>
{% for g in genres %}<tr><td>{{ g.genre }}</td><td>{{ g.count }}</td></tr>
{% endfor %}
</table>
<p class="meta">{{ liked|length }} liked so far{% if collaborative %}; titles with MovieLens ratings are blended
with the NCF model{% endif %}. <a href="/reset">Start over</a></p>
</section>
</body>
</html>
"""


def _split_ids(raw: str | None) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``; an empty entry (``"a,,b"``) is malformed."""
    if raw is None or raw.strip() == "":
        return []
    ids = [p.strip() for p in raw.split(",")]
    if any(p == "" for p in ids):
        raise UnknownItemError(f"malformed id list {raw[:80]!r}: empty entry")
    return ids


def _dedupe(ids: list[str], limit: int) -> list[str]:
    """Unique ids, keeping the latest ``limit`` in first-seen order."""
    return list(dict.fromkeys(ids))[-limit:]


def create_app(recommender: Recommender, secret_key: str | None = None) -> Flask:
    """The Flask app serving the page and API for ``recommender``."""
    app = Flask(__name__, static_folder=None)  # no route maps a request to a file
    app.config.update(
        SECRET_KEY=secret_key or os.environ.get(SECRET_ENV) or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=64 * 1024,
        JSON_SORT_KEYS=False,
    )
    rec = recommender
    # Compiled once (render_template_string would compile on every request); Flask autoescapes it.
    template = app.jinja_env.from_string(PAGE)

    def page(status=200, error=None):
        liked = [i for i in session.get("liked", []) if rec.has(i)]
        shown = [i for i in session.get("shown", []) if rec.has(i)]
        query = request.args.get("q", "")[:200] if request.method == "GET" else ""
        suggestions = rec.recommend_from_liked(liked, PAGE_SIZE, exclude=shown)
        if len(suggestions) < PAGE_SIZE:  # everything was shown once: start showing titles again
            suggestions = rec.recommend_from_liked(liked, PAGE_SIZE)
        session["current"] = [s["id"] for s in suggestions]
        html = template.render(suggestions=suggestions, genres=rec.top_genres(liked, 5), liked=liked,
                                      query=query, results=rec.search(query) if query else [], error=error,
                                      collaborative=rec.collaborative is not None)
        return html, status

    @app.get("/")
    def index():
        return page()

    @app.post("/")
    def submit():
        ticked = request.form.getlist("liked")
        try:
            rec.positions(ticked)
        except UnknownItemError as e:
            return page(400, str(e))
        session["liked"] = _dedupe(session.get("liked", []) + ticked, MAX_LIKED)
        if request.form.get("from") != "search":
            # The suggestions on the page have been seen: the next page shows 5 new titles. Ticks sent from
            # search results leave them unseen (the person was looking at the results).
            session["shown"] = _dedupe(session.get("shown", []) + session.get("current", []), MAX_SHOWN)
        return redirect("/", code=303)

    @app.get("/reset")
    def reset():
        session.clear()
        return redirect("/", code=303)

    @app.get("/api/suggest")
    def suggest():
        try:
            liked = _split_ids(request.args.get("liked"))
            exclude = _split_ids(request.args.get("exclude"))
            k_raw = request.args.get("k", str(PAGE_SIZE))
            if not k_raw.isdigit() or not 1 <= int(k_raw) <= MAX_K:
                return jsonify(error=f"k must be an integer in [1, {MAX_K}], got {k_raw[:20]!r}"), 400
            suggestions = rec.recommend_from_liked(liked, int(k_raw), exclude=exclude)
            genres = rec.top_genres(liked, 5)
        except UnknownItemError as e:
            return jsonify(error=str(e)), 400
        return jsonify(suggestions=[{key: s[key] for key in ("id", "title", "score", "genres")} for s in suggestions],
                       top_genres=genres)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", items=len(rec), collaborative=rec.collaborative is not None)

    @app.errorhandler(404)
    def not_found(e):
        return jsonify(error="not found"), 404

    @app.errorhandler(413)
    def too_large(e):
        return jsonify(error="request too large"), 413

    return app


__all__ = ["create_app", "PAGE_SIZE"]
