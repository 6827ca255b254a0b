// Clicking an [n] marker in an answer: jump to that source in the panel; for an older answer
// whose sources are not shown, ask the server for them first (through the hidden
// #source-request box). Loaded in the page's <head> (ui.page_head).
(() => {
  const flash = (el) => {
    el.scrollIntoView({behavior: "smooth", block: "nearest"});
    el.classList.add("beacon-flash");
    setTimeout(() => el.classList.remove("beacon-flash"), 2500);
  };
  document.addEventListener("click", (event) => {
    const link = event.target.closest ? event.target.closest('a[href^="#src-"]') : null;
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const id = link.getAttribute("href").slice(1);
    const m = id.match(/^src-(\d+)-(\d+)$/);
    if (!m) return;
    const shown = document.getElementById(id);
    if (shown) { flash(shown); return; }
    const box = document.querySelector("#source-request textarea, #source-request input");
    if (!box) return;
    box.value = m[1] + ":" + Date.now();  // always a change, even for the same answer again
    box.dispatchEvent(new Event("input", {bubbles: true}));
    let tries = 0;
    const wait = setInterval(() => {
      const el = document.getElementById(id);
      if (el || ++tries > 50) { clearInterval(wait); if (el) flash(el); }
    }, 100);
  }, true);
})();
