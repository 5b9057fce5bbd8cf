// Building DOM nodes without HTML strings: text always goes in as text.

/**
 * el("button", {type: "button", class: "secondary", dataset: {id: 3}}, "Edit")
 * Children are nodes or strings; strings become text nodes, never markup.
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`#${id} is missing from the page`);
  return node;
}

/**
 * Put a message in a role=alert or role=status element. The element stays in
 * the page while empty (CSS collapses it), so screen readers announce the change.
 */
export function say(node, message) {
  node.textContent = message ?? "";
}

let idCounter = 0;

/** A unique id for label/input pairs built at run time. */
export function uniqueId(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** Disable a form's controls while `work` runs, so a double click sends one request. */
export async function busy(form, work) {
  const controls = [...form.querySelectorAll("button, input, select, textarea")];
  const before = controls.map((control) => control.disabled);
  controls.forEach((control) => {
    control.disabled = true;
  });
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    controls.forEach((control, index) => {
      control.disabled = before[index];
    });
    form.removeAttribute("aria-busy");
  }
}

/** A label and its control (and an optional hint, tied by aria-describedby). */
export function field(labelText, control, hintText) {
  control.id = uniqueId("field");
  const label = el("label", { for: control.id }, labelText);
  if (!hintText) return [label, control];
  const hint = el("p", { class: "hint", id: uniqueId("hint") }, hintText);
  control.setAttribute("aria-describedby", hint.id);
  return [label, control, hint];
}

export function formatTime(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A heading a view moves the focus to when it opens, so screen readers announce it. */
export function viewHeading(text, level = "h1") {
  return el(level, { tabindex: "-1", class: "view-title" }, text);
}
