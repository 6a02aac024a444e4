/* articleqa chat widget: one script a host page embeds; everything lives in a shadow root, nothing is global.
 *
 * <script src="https://HOST/widget.js" data-endpoint="https://HOST" data-title="Ask our archive"
 *         data-accent="#b00020" data-lang="en" defer></script>
 * Optional: data-api-key (a read key), data-model (a language model on the server's allow-list), data-top-k.
 * Offsets in citations count Unicode code points (Python string indexes); the article view slices by code point.
 */
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script) return;
  const data = script.dataset;

  const STRINGS = {
    en: {
      title: "Ask the archive", open: "Ask a question", close: "Close", send: "Send", back: "Back to the answer",
      placeholder: "Ask a question about the articles", searching: "Searching the articles…", writing: "Writing…",
      abstain: "The articles do not say.", closest: "The closest passages:", sources: "Sources",
      source: "Source", retry: "Try again", you: "You", assistant: "Archive", loading: "Opening the article…",
      unreachable: "The archive could not be reached. Check the connection and try again.",
      busy: "Too many questions right now. Try again in {s} seconds.", busySoon: "Too many questions right now. Try again shortly.",
      refused: "The archive refused this site's key.", keyless: "The archive needs a key for questions; this page has none.",
      invalid: "The question could not be asked: {d}",
      server: "The archive had a problem (error {n}). Try again in a moment.",
      unavailable: "The archive is not available right now (it may be starting). Try again in a moment.",
      cut: "The answer was cut off before it finished. Try again.", stalled: "The answer stopped arriving. Try again.",
      failed: "The answer failed: {d}", articleFailed: "The article could not be opened: {d}",
      quoted: "Quoted passage", answerSpan: "Answer",
    },
    fr: {
      title: "Interroger les archives", open: "Poser une question", close: "Fermer", send: "Envoyer",
      back: "Retour à la réponse", placeholder: "Posez une question sur les articles",
      searching: "Recherche dans les articles…", writing: "Rédaction…", abstain: "Les articles ne le disent pas.",
      closest: "Les passages les plus proches :", sources: "Sources", source: "Source", retry: "Réessayer",
      you: "Vous", assistant: "Archives", loading: "Ouverture de l'article…",
      unreachable: "Impossible de joindre les archives. Vérifiez la connexion et réessayez.",
      busy: "Trop de questions pour le moment. Réessayez dans {s} secondes.",
      busySoon: "Trop de questions pour le moment. Réessayez bientôt.",
      refused: "Les archives ont refusé la clé de ce site.",
      keyless: "Les archives demandent une clé pour les questions ; cette page n'en a pas.", invalid: "La question n'a pas pu être posée : {d}",
      server: "Les archives ont rencontré un problème (erreur {n}). Réessayez dans un instant.",
      unavailable: "Les archives ne sont pas disponibles (démarrage en cours ?). Réessayez dans un instant.",
      cut: "La réponse a été interrompue. Réessayez.", stalled: "La réponse n'arrive plus. Réessayez.",
      failed: "La réponse a échoué : {d}", articleFailed: "L'article n'a pas pu être ouvert : {d}",
      quoted: "Passage cité", answerSpan: "Réponse",
    },
    es: {
      title: "Preguntar al archivo", open: "Hacer una pregunta", close: "Cerrar", send: "Enviar",
      back: "Volver a la respuesta", placeholder: "Haga una pregunta sobre los artículos",
      searching: "Buscando en los artículos…", writing: "Escribiendo…", abstain: "Los artículos no lo dicen.",
      closest: "Los pasajes más cercanos:", sources: "Fuentes", source: "Fuente", retry: "Reintentar",
      you: "Usted", assistant: "Archivo", loading: "Abriendo el artículo…",
      unreachable: "No se pudo contactar con el archivo. Compruebe la conexión y vuelva a intentarlo.",
      busy: "Demasiadas preguntas ahora. Vuelva a intentarlo en {s} segundos.",
      busySoon: "Demasiadas preguntas ahora. Vuelva a intentarlo en breve.",
      refused: "El archivo rechazó la clave de este sitio.",
      keyless: "El archivo pide una clave para las preguntas; esta página no tiene ninguna.", invalid: "No se pudo hacer la pregunta: {d}",
      server: "El archivo tuvo un problema (error {n}). Vuelva a intentarlo en un momento.",
      unavailable: "El archivo no está disponible ahora (quizá esté arrancando). Vuelva a intentarlo en un momento.",
      cut: "La respuesta se cortó antes de terminar. Vuelva a intentarlo.",
      stalled: "La respuesta dejó de llegar. Vuelva a intentarlo.", failed: "La respuesta falló: {d}",
      articleFailed: "No se pudo abrir el artículo: {d}", quoted: "Pasaje citado", answerSpan: "Respuesta",
    },
  };
  const lang = (data.lang || document.documentElement.lang || "en").toLowerCase().slice(0, 2);
  const t = STRINGS[lang] || STRINGS.en;
  const say = (key, fill = {}) => t[key].replace(/\{(\w)\}/g, (_, k) => String(fill[k] ?? ""));

  const endpoint = (data.endpoint || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  const title = data.title || t.title;
  const apiKey = data.apiKey || "";
  const model = data.model || "";
  const topK = Math.min(Math.max(parseInt(data.topK || "5", 10) || 5, 1), 50);
  const STALL_MS = Math.max(parseInt(data.stallSeconds || "60", 10) || 60, 1) * 1000;
  const HISTORY_TURNS = 8;

  /* Colours: the accent as given when it reads on white (WCAG AA 4.5:1), else darkened until it does. */
  const parseHex = (value) => {
    const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec((value || "").trim());
    if (!m) return null;
    const hex = m[1].length === 3 ? [...m[1]].map((c) => c + c).join("") : m[1];
    return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
  };
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const WHITE = [255, 255, 255];
  let accent = parseHex(data.accent) || [26, 86, 219];
  while (contrast(accent, WHITE) < 4.5) accent = accent.map((v) => Math.floor(v * 0.9));
  const css = (rgb) => `rgb(${rgb.join(",")})`;

  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  };

  const host = el("div", { "data-articleqa": "" });
  host.style.setProperty("--aqa-accent", css(accent));
  const root = host.attachShadow({ mode: "open" });
  root.append(el("link", { rel: "stylesheet", href: endpoint + "/widget.css" }));

  const launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "aqa-panel",
                                   "aria-label": `${title}: ${t.open}` }, el("span", { "aria-hidden": "true", text: "?" }), el("span", { class: "name", text: title }));
  const heading = el("h2", { id: "aqa-title", text: title });
  const closeButton = el("button", { class: "icon", type: "button", "aria-label": t.close, text: "×" });
  const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions text", "aria-labelledby": "aqa-title" });
  const status = el("div", { class: "status", role: "status" });
  const input = el("textarea", { rows: "2", "aria-label": t.placeholder, placeholder: t.placeholder, maxlength: "2000" });
  const sendButton = el("button", { class: "send", type: "submit", text: t.send });
  const form = el("form", { class: "compose" }, input, sendButton);
  const chat = el("section", { class: "chat" }, log, status, form);
  const backButton = el("button", { class: "back", type: "button", text: "← " + t.back });
  const articleTitle = el("h3", { class: "article-title" });
  const articleBody = el("div", { class: "article", tabindex: "0", role: "document" });
  const reader = el("section", { class: "reader", hidden: "" }, backButton, articleTitle, articleBody);
  const panel = el("div", { class: "panel", id: "aqa-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "aqa-title", hidden: "" },
                   el("header", {}, heading, closeButton), chat, reader);
  root.append(launcher, panel);

  const turns = [];
  let busy = false;
  let returnFocus = null;
  const documents = new Map();

  const headers = (extra = {}) => (apiKey ? { ...extra, Authorization: `Bearer ${apiKey}` } : extra);

  const open = () => {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    input.focus();
  };
  const close = () => {
    showChat(false);
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  };
  const showChat = (focus = true) => {
    reader.hidden = true;
    chat.hidden = false;
    if (focus) (returnFocus && returnFocus.isConnected ? returnFocus : input).focus();
  };

  launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
  closeButton.addEventListener("click", close);
  backButton.addEventListener("click", () => showChat());
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.stopPropagation();
    if (!reader.hidden) showChat(); else close();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || busy) return;
    input.value = "";
    ask(question);
  });

  /* Text with [n] markers: plain while streaming, buttons to the cited sentence once the citations are known. */
  const renderAnswer = (node, text, citations) => {
    node.replaceChildren();
    const byN = new Map((citations || []).map((c) => [c.n, c]));
    let last = 0;
    for (const match of text.matchAll(/\[(\d+)\]/g)) {
      node.append(text.slice(last, match.index));
      const citation = byN.get(Number(match[1]));
      node.append(citation ? citationButton(citation, `[${citation.n}]`, "marker") : match[0]);
      last = match.index + match[0].length;
    }
    node.append(text.slice(last));
  };

  const citationButton = (c, label, kind) =>
    el("button", { type: "button", class: kind, "data-n": String(c.n ?? ""), "aria-label": `${t.source} ${c.n ?? ""}: ${c.title}`,
                   onclick: (event) => openArticle(c, event.currentTarget) }, label);

  const sourceList = (items, heading) => {
    const list = el("ol", { class: "sources" });
    for (const item of items) {
      const quote = item.quote ?? item.text;
      list.append(el("li", {}, citationButton(item, item.title || item.doc_id, "source"),
                     el("q", { text: quote.length > 220 ? quote.slice(0, 217) + "…" : quote })));
    }
    return el("div", {}, el("p", { class: "label", text: heading }), list);
  };

  const ask = async (question, existing) => {
    const turn = existing || { question };
    turn.answer = "";
    turn.done = false;
    if (!existing) {
      turns.push(turn);
      turn.node = el("div", { class: "turn" });
      log.append(turn.node);
    }
    turn.node.replaceChildren(el("p", { class: "you" }, el("span", { class: "who", text: t.you + ": " }), question));
    const bubble = el("div", { class: "answer", "aria-busy": "true" });
    const text = el("p", { class: "text" });
    bubble.append(el("span", { class: "who", text: t.assistant + ": " }), text);
    turn.node.append(bubble);
    log.scrollTop = log.scrollHeight;
    busy = true;
    sendButton.disabled = true;
    status.textContent = t.searching;

    const history = [];
    for (const earlier of turns.filter((x) => x !== turn && x.done).slice(-HISTORY_TURNS)) {
      history.push({ role: "user", content: earlier.question }, { role: "assistant", content: earlier.answer });
    }
    const body = { question, top_k: topK, stream: true, history };
    if (model) body.model = model;

    const controller = new AbortController();
    let stalled = false;
    let timer = null;
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => { stalled = true; controller.abort(); }, STALL_MS); };
    const fail = (message) => {
      bubble.append(el("p", { class: "error", role: "alert", text: message }),
                    el("button", { type: "button", class: "retry", text: t.retry, onclick: () => !busy && ask(question, turn) }));
    };
    let started = false;
    let finished = false;
    let passages = [];
    let answerable = true;
    arm();
    try {
      const response = await fetch(endpoint + "/ask", {
        method: "POST", body: JSON.stringify(body), signal: controller.signal,
        headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      });
      if (!response.ok) { fail(await httpError(response)); return; }
      started = true;
      const decoder = new TextDecoder();
      const streamReader = response.body.getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await streamReader.read();
        if (done) break;
        arm();
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = parseEvent(block);
          if (!event) continue;
          if (event.name === "passages") {
            passages = event.data.passages || [];
            answerable = event.data.answerable !== false;
            status.textContent = answerable ? t.writing : "";
          } else if (event.name === "token") {
            if (answerable) { turn.answer += event.data.text; renderAnswer(text, turn.answer, null); }
          } else if (event.name === "citations") {
            turn.answer = event.data.answer;
            if (answerable) {
              renderAnswer(text, turn.answer, event.data.citations);
              if (event.data.citations.length) bubble.append(sourceList(event.data.citations, t.sources));
            } else {
              text.textContent = t.abstain;
              bubble.classList.add("abstained");
              if (passages.length) {
                bubble.append(sourceList(passages.slice(0, 3).map((p) => ({ ...p, n: p.rank })), t.closest));
              }
            }
          } else if (event.name === "done") {
            finished = true;
            turn.done = true;
          } else if (event.name === "error") {
            fail(say("failed", { d: event.data.detail || event.data.title || "" }));
            finished = true;
          }
        }
      }
      if (!finished) fail(t.cut);
    } catch (error) {
      fail(stalled ? t.stalled : started ? t.cut : t.unreachable);
    } finally {
      clearTimeout(timer);
      bubble.setAttribute("aria-busy", "false");
      status.textContent = "";
      busy = false;
      sendButton.disabled = false;
      log.scrollTop = log.scrollHeight;
    }
  };

  const parseEvent = (block) => {
    let name = "message";
    const lines = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) lines.push(line.slice(5).replace(/^ /, ""));
    }
    if (!lines.length) return null;
    try { return { name, data: JSON.parse(lines.join("\n")) }; } catch { return null; }
  };

  const httpError = async (response) => {
    let problem = {};
    try { problem = await response.json(); } catch { /* not JSON: the status says enough */ }
    const detail = problem.detail || problem.title || "";
    if (response.status === 429) {
      const seconds = parseInt(response.headers.get("Retry-After") || "", 10);
      return Number.isFinite(seconds) ? say("busy", { s: seconds }) : t.busySoon;
    }
    if (response.status === 401 || response.status === 403) return apiKey ? t.refused : t.keyless;
    if (response.status === 503) return t.unavailable;
    if (response.status >= 400 && response.status < 500 && detail) return say("invalid", { d: detail });
    return say("server", { n: response.status });
  };

  /* The article view: the cited sentence highlighted by its offsets, and the short answer inside it. */
  const openArticle = async (citation, opener) => {
    returnFocus = opener;
    chat.hidden = true;
    reader.hidden = false;
    articleTitle.textContent = citation.title || citation.doc_id;
    articleBody.replaceChildren(el("p", { class: "label", text: t.loading }));
    let article = documents.get(citation.doc_id);
    if (!article) {
      try {
        const response = await fetch(`${endpoint}/documents/${encodeURIComponent(citation.doc_id)}`, { headers: headers() });
        if (!response.ok) throw new Error((await httpError(response)));
        const loaded = await response.json();
        article = { title: loaded.title, points: Array.from(loaded.text) };
        documents.set(citation.doc_id, article);
      } catch (error) {
        articleBody.replaceChildren(el("p", { class: "error", role: "alert",
                                               text: say("articleFailed", { d: error instanceof TypeError ? t.unreachable : error.message }) }));
        backButton.focus();
        return;
      }
    }
    const slice = (a, b) => article.points.slice(a, b).join("");
    const mark = el("mark", { class: "quote", tabindex: "-1", "aria-label": t.quoted });
    const span = citation.answer_span;
    if (span && span.start >= citation.start && span.end <= citation.end && span.start < span.end) {
      mark.append(slice(citation.start, span.start), el("mark", { class: "span", text: slice(span.start, span.end) }),
                  slice(span.end, citation.end));
    } else {
      mark.append(slice(citation.start, citation.end));
    }
    articleTitle.textContent = article.title || citation.doc_id;
    articleBody.replaceChildren(el("p", { class: "text" }, slice(0, citation.start), mark, slice(citation.end)));
    mark.scrollIntoView({ block: "center" });
    mark.focus({ preventScroll: true });
  };

  const mount = () => document.body.append(host);
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount, { once: true });
})();
