"""The page's HTML contract, its JSON API, escaping and 400s, through Flask's test client."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from hncf.models.content import l2_normalise
from hncf.serving.recommender import CollaborativePart, Recommender, UnknownItemError
from hncf.serving.web import create_app

GENRES = ["Horror Movies", "Comedies", "Documentaries", "Romantic Movies"]


def catalogue(n_per_genre=8, seed=0):
    """Items in four genres whose vectors cluster by genre, plus one title holding a script tag."""
    rng = np.random.default_rng(seed)
    centres = l2_normalise(rng.normal(size=(len(GENRES), 16)))
    rows, vecs = [], []
    for g, name in enumerate(GENRES):
        for k in range(n_per_genre):
            j = len(rows) + 1
            rows.append({"item": f"s{j}", "title": f"{name.split()[0]} title {k}", "genres": name,
                         "description": f"A {name.lower()} story number {k}.", "year": 2000 + k})
            vecs.append(centres[g] + 0.15 * rng.normal(size=16))
    rows.append({"item": "s999", "title": "<script>alert('x')</script> & Friends", "genres": "Comedies",
                 "description": "Contains <b>bold</b> & \"quotes\".", "year": 2020})
    vecs.append(centres[1] + 0.15 * rng.normal(size=16))
    items = pd.DataFrame(rows)
    items["year"] = items["year"].astype("Int64")
    return items, l2_normalise(np.stack(vecs))


class Page(HTMLParser):
    """Collects the contract's elements from a page."""

    def __init__(self, html):
        super().__init__()
        self.items, self.checkboxes, self.buttons, self.queries, self.genre_rows = [], [], [], [], 0
        self._in_table = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-item-id" in a:
            self.items.append(a["data-item-id"])
        if tag == "input" and a.get("type") == "checkbox" and a.get("name") == "liked":
            self.checkboxes.append(a["value"])
        if tag == "button":
            self.buttons.append(a.get("type"))
        if tag == "input" and a.get("name") == "q":
            self.queries.append(a)
        if tag == "table" and a.get("id") == "top-genres":
            self._in_table = True
        if tag == "tr" and self._in_table:
            self.genre_rows += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False


@pytest.fixture
def rec():
    items, vectors = catalogue()
    return Recommender(items, vectors)


@pytest.fixture
def client(rec):
    app = create_app(rec, secret_key="test-secret")
    app.config["TESTING"] = True
    return app.test_client()


def genres_of(rec, ids):
    g = rec.items.set_index("item")["genres"]
    return [g[i] for i in ids]


def test_first_page_follows_the_contract(client):
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    p = Page(r.get_data(as_text=True))
    assert len(p.items) == 5 and p.checkboxes == p.items and len(set(p.items)) == 5
    assert p.buttons == ["submit"] and len(p.queries) == 1
    assert p.genre_rows == 1  # the header only: nothing liked yet
    assert "session" in r.headers.get("Set-Cookie", "")


def test_ticking_horror_gives_horror_and_updates_the_genre_table(client, rec):
    first = Page(client.get("/").get_data(as_text=True)).items
    r = client.post("/", data={"liked": ["s1", "s2", "s3"]})
    assert r.status_code == 303 and r.headers["Location"].endswith("/")
    p = Page(client.get("/").get_data(as_text=True))
    assert len(p.items) == 5 and not set(p.items) & ({"s1", "s2", "s3"} | set(first))
    assert sum(g == "Horror Movies" for g in genres_of(rec, p.items)) >= 4
    assert p.genre_rows == 2
    html = client.get("/").get_data(as_text=True)
    assert re.search(r"<td>Horror Movies</td><td>3</td>", html)
    # The next submit shows five more, none shown before.
    client.post("/", data={"liked": [p.items[0]]})
    nxt = Page(client.get("/").get_data(as_text=True)).items
    assert len(nxt) == 5 and not set(nxt) & set(p.items)


def test_titles_and_descriptions_are_escaped(client):
    html = client.get("/?q=script").get_data(as_text=True)
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Friends" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    js = client.get("/api/suggest?liked=s999&k=50").get_json()
    assert js["suggestions"] and all("<" not in s["title"] or s["id"] == "s999" for s in js["suggestions"])
    html = client.get("/?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E").get_data(as_text=True)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_search_finds_titles_to_tick(client):
    html = client.get("/?q=HORROR title").get_data(as_text=True)
    results = Page(html.split('<section id="suggestions">')[0]).items
    assert results == [f"s{k}" for k in range(1, 9)]  # case-insensitive, in catalogue order
    assert len(Page(html).items) == 8 + 5  # the five suggestions stay below
    assert Page(client.get("/?q=(unbalanced[").get_data(as_text=True)).items  # not a regex: no error


@pytest.mark.parametrize("ids", ["nope", "../../etc/passwd", "s1;drop", "s1,,s2", "x" * 100])
def test_unknown_or_malformed_ids_are_400(client, ids):
    r = client.get(f"/api/suggest?liked={ids}")
    assert r.status_code == 400 and r.is_json and r.get_json()["error"]
    r = client.post("/", data={"liked": ids.split(",")})
    assert r.status_code == 400 and b"role=\"alert\"" in r.data
    assert Page(client.get("/").get_data(as_text=True)).genre_rows == 1  # nothing was stored


def test_api_suggest_shape_k_and_healthz(client, rec):
    js = client.get("/api/suggest?liked=s9,s10&k=3").get_json()
    assert set(js) == {"suggestions", "top_genres"} and len(js["suggestions"]) == 3
    assert all(set(s) == {"id", "title", "score", "genres"} for s in js["suggestions"])
    assert js["top_genres"] == [{"genre": "Comedies", "count": 2}]
    scores = [s["score"] for s in js["suggestions"]]
    assert scores == sorted(scores, reverse=True)
    assert {s["id"] for s in js["suggestions"]}.isdisjoint({"s9", "s10"})
    assert client.get("/api/suggest?liked=s9&exclude=s11,s12&k=5").get_json()["suggestions"][0]["id"] not in \
        {"s11", "s12"}
    for k in ("0", "abc", "51", "-1"):
        assert client.get(f"/api/suggest?liked=s9&k={k}").status_code == 400
    assert len(client.get("/api/suggest").get_json()["suggestions"]) == 5  # nothing liked: the starter list
    h = client.get("/healthz")
    assert h.status_code == 200 and h.get_json()["items"] == len(rec)


def test_session_is_signed_and_per_browser(rec):
    app = create_app(rec, secret_key="one")
    a, b = app.test_client(), app.test_client()
    a.post("/", data={"liked": ["s1", "s2"]})
    assert Page(a.get("/").get_data(as_text=True)).genre_rows == 2
    assert Page(b.get("/").get_data(as_text=True)).genre_rows == 1
    # A cookie signed with another secret is ignored, not trusted.
    forged = create_app(rec, secret_key="two").test_client()
    forged.post("/", data={"liked": ["s1"]})
    cookie = forged.get_cookie("session").value
    b.set_cookie("session", cookie)
    assert Page(b.get("/").get_data(as_text=True)).genre_rows == 1


def test_no_request_path_reaches_the_file_system(client):
    for path in ("/../../etc/passwd", "/static/../../hncf/cli.py", "/templates/x", "/%2e%2e/%2e%2e/etc/passwd"):
        r = client.get(path)
        assert r.status_code == 404 and b"root:" not in r.data


def test_recommender_blends_only_linked_titles(rec):
    from hncf.models.rating import blend_scores

    class FixedFoldIn:  # a collaborative model whose scores are known: item k scores k
        def __init__(self):
            self.calls = []

        def scores(self, liked, items=None):
            self.calls.append(np.asarray(liked).tolist())
            return np.arange(10, dtype=np.float64)[items]

    cf_index = np.full(len(rec), -1)
    cf_index[:10] = np.arange(10)[::-1]  # s1..s10 are linked
    fold = FixedFoldIn()
    hybrid = Recommender(rec.items, rec.vectors, CollaborativePart(fold, cf_index), blend_weight=0.4)
    liked = hybrid.positions(["s1", "s20"])
    content = rec.vectors @ l2_normalise(rec.vectors[liked].mean(axis=0))
    full = np.zeros(len(rec))
    full[:10] = np.arange(10)[::-1]
    np.testing.assert_allclose(hybrid.scores(liked), blend_scores(content, full, 0.4, cf_index >= 0), rtol=1e-5, atol=1e-6)
    assert fold.calls == [[9]]  # only the linked tick is folded in, by its collaborative index
    # Ticks with no link stay content-only.
    np.testing.assert_allclose(hybrid.scores(hybrid.positions(["s20"])), rec.scores(rec.positions(["s20"])), rtol=1e-6)
    out = hybrid.recommend_from_liked(["s1", "s20"], k=4)
    assert [o["id"] for o in out] == rec.items["item"].to_numpy()[
        np.argsort(-np.where(np.isin(np.arange(len(rec)), liked), -np.inf, hybrid.scores(liked)),
                   kind="stable")[:4]].tolist()


def test_recommender_errors_and_genres(rec):
    with pytest.raises(UnknownItemError, match="unknown item id 'zz'"):
        rec.recommend_from_liked(["s1", "zz"])
    with pytest.raises(UnknownItemError, match="malformed"):
        rec.top_genres(["a b"])
    assert rec.top_genres(["s1", "s2", "s9"], n=5) == [{"genre": "Horror Movies", "count": 2},
                                                       {"genre": "Comedies", "count": 1}]
    assert [s["id"] for s in rec.search("Horror title 1")] == ["s2"]
    starter = rec.recommend_from_liked([], k=4)
    assert len({s["genres"][0] for s in starter}) == 4  # the first page spans the genres


def test_notebook_picker_follows_the_page_logic(rec):
    pytest.importorskip("ipywidgets", reason="ipywidgets is not installed")
    from hncf.serving.recommender import picker_widget

    _, boxes, button, table = picker_widget(rec, k=5).children
    first = list(boxes.ids)
    assert first == [s["id"] for s in rec.recommend_from_liked([], 5)] and table.value.count("<tr>") == 1
    boxes.children[0].value = boxes.children[2].value = True
    button.click()
    liked = [first[0], first[2]]
    assert list(boxes.ids) == [s["id"] for s in rec.recommend_from_liked(liked, 5, exclude=first)]
    assert table.value.count("<tr>") == 1 + len(rec.top_genres(liked))


def test_cookie_stays_small_after_many_submits():
    from hncf.serving.web import MAX_LIKED

    items, vectors = catalogue(n_per_genre=100)
    client = create_app(Recommender(items, vectors), secret_key="k").test_client()
    for k in range(0, 390, 3):
        client.post("/", data={"liked": [f"s{k + 1}", f"s{k + 2}", f"s{k + 3}"]})
    assert len(client.get_cookie("session").value) < 4000
    assert f"{MAX_LIKED} liked so far" in client.get("/").get_data(as_text=True)
