"""Beacon's web chat (Gradio). It receives the Assistant and only formats what it returns.

Nothing here retrieves, stores or builds prompts: every handler is one call to the core and a
rendering step. Document and answer text is escaped before display, so HTML or script inside
a document is shown as text.
"""

from __future__ import annotations

import html
import ipaddress

from assistant.errors import BeaconError, ConfigError
from assistant.models import Answer

EXAMPLES = [
    "What did the 24th Alliance conference focus on?",
    "What are the 3 Ps of the OSCE Action Plan?",
    "How does the Palermo Protocol define trafficking in persons?",
]


def escape_text(text: str) -> str:
    """Plain text safe for Markdown rendering: HTML is escaped, Markdown links are kept inert."""
    return html.escape(text, quote=False).replace("[", "\\[").replace("]", "\\]")


def format_answer(answer: Answer) -> str:
    """The chat bubble: answer text with markers turned into anchors to the sources panel."""
    if answer.refused:
        return "⚠️ " + escape_text(answer.answer).replace("\n", "  \n")
    parts = []
    for sentence in answer.sentences:
        markers = " ".join(f"<sup><a href='#src-{n}'>[{n}]</a></sup>" for n in sentence.citations)
        parts.append(f"{escape_text(sentence.text)} {markers}")
    return " ".join(parts) if parts else escape_text(answer.answer)


def format_sources(answer: Answer) -> str:
    """The sources panel: one entry per citation, with the quoted sentence highlighted."""
    if answer.refused:
        if not answer.retrieved:
            return "_No sources._"
        seen, lines = set(), ["**Closest documents** (not enough to answer):"]
        for r in answer.retrieved:
            if r.doc_id not in seen:
                seen.add(r.doc_id)
                lines.append(f"- {escape_text(r.title or r.source)}" + (f" — {escape_text(r.locator)}" if r.locator else ""))
        return "\n".join(lines)
    blocks = []
    quoted = {n: [s.text for s in answer.sentences if n in s.citations] for n in (c.n for c in answer.citations)}
    for c in answer.citations:
        snippet = escape_text(c.text)
        for sentence in quoted[c.n]:
            safe = escape_text(sentence)
            snippet = snippet.replace(safe, f"<mark>{safe}</mark>", 1)
        link = c.url or c.source
        link_md = f"[{escape_text(link)}]({link})" if link.startswith(("http://", "https://")) else f"`{escape_text(link)}`"
        place = f" — {escape_text(c.locator)}" if c.locator else ""
        quote = "> " + snippet.replace("\n\n", "\n>\n> ").replace("\n", "\n> ").replace("> >", ">")
        blocks.append(f"<a id='src-{c.n}'></a>**[{c.n}] {escape_text(c.title)}**{place}  \n{link_md}\n\n{quote}")
    return "\n\n".join(blocks)


def build_app(beacon):
    import gradio as gr

    def respond(question: str, history: list):
        history = list(history or [])
        if not question or not question.strip():
            return "", history, gr.update()
        history.append({"role": "user", "content": escape_text(question)})
        try:
            answer = beacon.ask(question)
        except BeaconError as exc:
            history.append({"role": "assistant", "content": f"⚠️ {escape_text(str(exc))}"})
            return "", history, ""
        history.append({"role": "assistant", "content": format_answer(answer)})
        return "", history, format_sources(answer)

    with gr.Blocks(title="Beacon") as app:
        gr.Markdown("## Beacon — trafficking-prevention guidance, grounded in the library")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Chat", height=480, elem_id="chat", sanitize_html=True)
                question = gr.Textbox(label="Your question", placeholder="Ask about OSCE commitments, the Palermo Protocol, prevention…", elem_id="question")
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="ask")
                    clear = gr.Button("New conversation", elem_id="new-conversation")
                gr.Examples(EXAMPLES, inputs=question)
            with gr.Column(scale=2):
                sources = gr.Markdown("_Sources appear here._", elem_id="sources", sanitize_html=True)
        send.click(respond, [question, chat], [question, chat, sources])
        question.submit(respond, [question, chat], [question, chat, sources])
        clear.click(lambda: ([], "", "_Sources appear here._"), None, [chat, question, sources])
    return app


def check_bind_address(host: str) -> None:
    """Beacon has no accounts yet, so it serves only this machine."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"Refusing to serve on {host}: Beacon has no user accounts yet, so it only binds to a loopback "
            "address (127.0.0.1). Put it behind an authenticating reverse proxy instead."
        )


def serve(beacon, host: str = "127.0.0.1", port: int = 7860) -> None:
    check_bind_address(host)
    beacon.warm_up()
    build_app(beacon).launch(server_name=host, server_port=port, show_error=True)
