"""Pages nested deeper than an HTML parser will go: rewritten with their nesting capped.

libxml2 (behind lxml and trafilatura) stops at 256 levels and silently drops what lies deeper,
so a page of 10,000 nested <div>s lost its one real sentence. Such a page is re-emitted with
the stdlib's event parser (which keeps no tree, so has no depth limit): tags deeper than
`MAX_DEPTH` are left out, their text kept. Only pages the parser refused are rewritten.
"""

from __future__ import annotations

from html.parser import HTMLParser

MAX_DEPTH = 100
VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"})


def too_deep(parser_errors) -> bool:
    """Whether lxml's error log says the page was cut at the parser's depth limit."""
    return any(getattr(e, "type_name", "") == "ERR_RESOURCE_LIMIT" or "Excessive depth" in str(e.message) for e in parser_errors)


def cap_nesting(html: str, max_depth: int = MAX_DEPTH) -> str:
    rewriter = _CappedNesting(max_depth)
    rewriter.feed(html)
    rewriter.close()
    return "".join(rewriter.out)


class _CappedNesting(HTMLParser):
    def __init__(self, max_depth: int):
        super().__init__(convert_charrefs=False)  # entities are copied as they are
        self.max_depth = max_depth
        self.depth = 0
        self.out: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in VOID_TAGS:
            self.out.append(self.get_starttag_text() or "")
            return
        self.depth += 1
        if self.depth <= self.max_depth:
            self.out.append(self.get_starttag_text() or "")

    def handle_startendtag(self, tag, attrs):
        self.out.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag):
        if tag in VOID_TAGS:
            return
        if self.depth <= self.max_depth:
            self.out.append(f"</{tag}>")
        self.depth = max(self.depth - 1, 0)

    def handle_data(self, data):
        self.out.append(data)

    def handle_entityref(self, name):
        self.out.append(f"&{name};")

    def handle_charref(self, name):
        self.out.append(f"&#{name};")

    def handle_comment(self, data):
        pass  # comments are never content

    def handle_decl(self, decl):
        self.out.append(f"<!{decl}>")
