// The console page: the key, the tabs, the model and voice lists, and the five panels.

import { Api, describe } from "./api.js";
import { microphoneProblem } from "./audio.js";
import { Dictate } from "./dictate.js";
import { Speak } from "./speak.js";
import { Status } from "./status.js";
import { Talk, talkFigures } from "./talk.js";
import { Transcribe } from "./transcribe.js";

const $ = (id) => document.getElementById(id);
const api = new Api();
const status = new Status(api);
new Talk(api);
new Dictate(api);
new Transcribe(api);
new Speak(api);
window.consoleFigures = { talk: talkFigures }; // what the page measured, for tests and the bench

function fill(select, options, keep = select.value) {
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
  if (options.some(([value]) => value === keep)) select.value = keep;
}

async function loadVoices(select, model) {
  const query = model ? `?model=${encodeURIComponent(model)}` : "";
  const voices = await api.json(`/v1/audio/voices${query}`);
  fill(select, voices.voices.map((v) => [v.id, v.name]));
  const mixable = voices.data.map((v) => v.id);
  $("speak-mix").placeholder = mixable.length > 1 ? `e.g. ${mixable[0]}(2)+${mixable[1]}(1)` : "";
}

/** Model and voice lists, once the key works. */
async function loadLists(models) {
  const asr = models.data.filter((m) => m.engine === "whisper").map((m) => [m.id, m.id]);
  fill($("transcribe-model"), [["whisper-1", "whisper-1 (default)"], ...asr]);
  fill($("dictate-model"), [["whisper-1", "whisper-1 (default)"], ...asr]);
  fill($("speak-model"), models.models.map((m) => [m.id, m.id]), "tts-1");
  await Promise.all([loadVoices($("talk-voice")), loadVoices($("speak-voice"), $("speak-model").value)]);
}

async function useKey(event) {
  event?.preventDefault();
  api.setKey($("api-key").value, $("remember-key").checked);
  const out = $("key-status");
  out.textContent = "Checking the key…";
  out.className = "";
  try {
    const models = await api.checkKey();
    out.textContent = `Key accepted: ${models.data.length} models installed.`;
    out.className = "ok";
    await loadLists(models);
  } catch (error) {
    out.textContent = describe(error);
    out.className = "bad";
  }
}

function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  status.show(tab.id === "tab-status");
}

function setUpTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      next.focus();
      selectTab(next);
    });
  }
}

function warnAboutMicrophone() {
  const problem = microphoneProblem();
  if (!problem) return;
  $("secure-warning").textContent = problem;
  $("secure-warning").hidden = false;
  for (const id of ["talk-button", "dictate-button"]) $(id).disabled = true;
}

setUpTabs();
warnAboutMicrophone();
$("key-form").addEventListener("submit", useKey);
$("speak-model").addEventListener("change", () =>
  loadVoices($("speak-voice"), $("speak-model").value).catch((e) => ($("speak-state").textContent = describe(e))));
$("remember-key").checked = api.remembered;
if (api.key) {
  $("api-key").value = api.key;
  useKey();
}
