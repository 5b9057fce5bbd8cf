// Asking before an action that cannot be undone: a modal <dialog>.
//
// The dialog is an alertdialog named by its question; "Cancel" has the focus
// first, so Enter or Escape never confirms by accident. On close the focus
// goes back to the control that asked (when it is still in the page).

import { el, uniqueId } from "./dom.js";

/**
 * await confirmAction({question: "Disable bob?", detail: "...", confirm: "Disable bob"})
 * Resolves to true when the person confirms, false otherwise.
 */
export function confirmAction({ question, detail = "", confirm }) {
  const opener = document.activeElement;
  const titleId = uniqueId("confirm-title");
  const detailId = uniqueId("confirm-detail");
  const yes = el("button", { type: "button", class: "danger" }, confirm);
  const no = el("button", { type: "button", class: "secondary" }, "Cancel");
  const dialog = el(
    "dialog",
    {
      class: "confirm-dialog",
      role: "alertdialog",
      "aria-modal": "true",
      "aria-labelledby": titleId,
      "aria-describedby": detail ? detailId : null,
    },
    el("h2", { id: titleId }, question),
    detail ? el("p", { id: detailId }, detail) : null,
    el("div", { class: "actions" }, yes, no),
  );
  document.body.append(dialog);
  return new Promise((resolve) => {
    let answer = false;
    yes.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    no.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(answer);
    });
    dialog.showModal();
    no.focus();
  });
}
