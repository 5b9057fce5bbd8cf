// #/account, section "Sessions": where this account is signed in (device and
// times), with a way to end one session or every other one. Ending a session
// locks that device out within a second (its access token is refused).

import { confirmAction } from "../confirm.js";
import { busy, el, formatTime } from "../dom.js";
import { addAccountSection } from "./account.js";

/** "Firefox on Linux" from a User-Agent; the raw string stays in the title. */
export function describeDevice(agent) {
  if (!agent) return "Unknown device";
  const browser =
    [["Edg/", "Edge"], ["OPR/", "Opera"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"], ["Chromium/", "Chromium"], ["Safari/", "Safari"], ["curl/", "curl"], ["python", "Python script"]]
      .find(([marker]) => agent.includes(marker))?.[1] ?? "Browser";
  const system =
    [["Android", "Android"], ["iPhone", "iPhone"], ["iPad", "iPad"], ["Windows", "Windows"], ["Mac OS X", "macOS"], ["CrOS", "ChromeOS"], ["Linux", "Linux"]]
      .find(([marker]) => agent.includes(marker))?.[1];
  return system ? `${browser} on ${system}` : browser;
}

addAccountSection({
  id: "sessions",
  title: "Sessions",
  order: 20,
  render(section, { api, feedback, signal }) {
    const list = el("ul", { class: "sessions", "aria-label": "Your sessions" });
    const endOthers = el("button", { type: "button", class: "danger" }, "Log out every other session");
    const controls = el("div", { class: "actions" }, endOthers);
    section.append(
      el("p", { class: "hint" }, "Every browser or device where you are signed in. Ending a session logs it out within a second."),
      list,
      controls,
    );

    async function load() {
      let sessions;
      try {
        sessions = await api.get("account/sessions");
      } catch (error) {
        if (!signal.aborted) feedback.fail(error);
        return;
      }
      if (signal.aborted) return;
      list.replaceChildren(...sessions.map(row));
      endOthers.disabled = !sessions.some((s) => !s.current);
    }

    function row(s) {
      const device = describeDevice(s.user_agent);
      const item = el(
        "li",
        { class: "session", dataset: { sid: s.id } },
        el("strong", { title: s.user_agent ?? "" }, device),
        s.current ? el("span", { class: "badge" }, " This session") : null,
        el(
          "p",
          { class: "hint" },
          `Signed in ${formatTime(s.created_at)} · last active ${formatTime(s.last_used_at)}`,
          s.client_ip ? ` · from ${s.client_ip}` : "",
          s.amr.includes("otp") ? " · with a second factor" : "",
        ),
      );
      if (!s.current) {
        const end = el("button", { type: "button", class: "secondary", "aria-label": `Log out ${device}, signed in ${formatTime(s.created_at)}` }, "Log out");
        end.addEventListener("click", async () => {
          const yes = await confirmAction({ question: `Log out ${device}?`, detail: "That device will have to log in again.", confirm: "Log out" });
          if (!yes) return;
          try {
            await busy(item, () => api.delete(`account/sessions/${encodeURIComponent(s.id)}`));
          } catch (error) {
            if (!signal.aborted) feedback.fail(error);
            return;
          }
          feedback.ok(`${device} has been logged out.`);
          await load();
        });
        item.append(end);
      }
      return item;
    }

    endOthers.addEventListener("click", async () => {
      const yes = await confirmAction({
        question: "Log out every other session?",
        detail: "Every other browser and device will have to log in again. This one stays.",
        confirm: "Log out the others",
      });
      if (!yes) return;
      try {
        await busy(controls, () => api.delete("account/sessions"));
      } catch (error) {
        if (!signal.aborted) feedback.fail(error);
        return;
      }
      feedback.ok("Every other session has been logged out.");
      await load();
    });
    document.addEventListener("password-changed", () => load(), { signal });
    load();
  },
});
