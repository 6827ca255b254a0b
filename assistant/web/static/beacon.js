// Clicking an [n] marker in an answer: jump to that source in the panel; for an older answer
// whose sources are not shown, ask the server for them first (through the hidden
// #source-request box); and open it in the source viewer (through the hidden #viewer-request
// box), which the "open" link of a source does alone. A viewer that shows a highlighted passage
// is scrolled to it. Loaded in the page's <head> (ui.page_head).
(() => {
  const flash = (el) => {
    el.scrollIntoView({behavior: "smooth", block: "nearest"});
    el.classList.add("beacon-flash");
    setTimeout(() => el.classList.remove("beacon-flash"), 2500);
  };
  const request = (selector, value) => {
    const box = document.querySelector(selector + " textarea, " + selector + " input");
    if (!box) return false;
    box.value = value + ":" + Date.now();  // always a change, even for the same request again
    box.dispatchEvent(new Event("input", {bubbles: true}));
    return true;
  };
  document.addEventListener("click", (event) => {
    const link = event.target.closest ? event.target.closest('a[href^="#src-"], a[href^="#view-"]') : null;
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const id = link.getAttribute("href").slice(1);
    const m = id.match(/^(src|view)-(\d+)-(\d+)$/);
    if (!m) return;
    request("#viewer-request", m[2] + ":" + m[3]);
    if (m[1] === "view") return;
    const shown = document.getElementById(id);
    if (shown) { flash(shown); return; }
    if (!request("#source-request", m[2])) return;
    let tries = 0;
    const wait = setInterval(() => {
      const el = document.getElementById(id);
      if (el || ++tries > 50) { clearInterval(wait); if (el) flash(el); }
    }, 100);
  }, true);
  const scrollTo = (target) => {  // within the viewer's own scroll box, not the whole page
    for (let box = target.parentElement; box; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowY;
      if ((overflow === "auto" || overflow === "scroll") && box.scrollHeight > box.clientHeight) {
        box.scrollTop += target.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 3;
        return;
      }
    }
    target.scrollIntoView({block: "nearest"});
  };
  new MutationObserver(() => {
    for (const target of document.querySelectorAll(".beacon-viewer-target:not([data-scrolled])")) {
      target.dataset.scrolled = "1";
      requestAnimationFrame(() => scrollTo(target));
    }
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
