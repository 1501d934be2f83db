/*
 * Tandem website snippet: page views, form submissions and UTM tags, sent to your Tandem.
 * Our own code, no dependencies. Paste from Settings > Website tracking:
 *
 *   <script src="https://tandem.example.com/static/engagement/tandem.js"
 *           data-key="tdm_…" data-endpoint="https://tandem.example.com" async></script>
 *
 * - A first-party cookie (tandem_aid, one year) holds an anonymous id for this browser.
 * - Do-Not-Track is respected: with it on, nothing is stored or sent.
 * - data-consent="required" waits for window.tandem("consent", true) before any cookie or event;
 *   window.tandem("consent", false) forgets the cookie and stops.
 * - UTM tags of the landing page are kept for the visit (sessionStorage) and sent with every event.
 * - A form with an email field sends form_submit with that email, which identifies the visitor.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-key][src*='tandem']");
  if (!script || window.__tandemLoaded) { return; }
  window.__tandemLoaded = true;
  var key = script.getAttribute("data-key") || "";
  var endpoint = (script.getAttribute("data-endpoint") || new URL(script.src).origin).replace(/\/$/, "");
  var consentRequired = script.getAttribute("data-consent") === "required";
  var COOKIE = "tandem_aid";
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  var queue = [];
  var consent = !consentRequired;

  function doNotTrack() {
    var flag = navigator.doNotTrack || window.doNotTrack || navigator.msDoNotTrack;
    return flag === "1" || flag === "yes" || navigator.globalPrivacyControl === true;
  }

  function randomId() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) { return decodeURIComponent(parts[i].slice(eq + 1)); }
    }
    return "";
  }

  function anonymousId() {
    var id = readCookie(COOKIE);
    if (!id) {
      id = randomId();
      var secure = location.protocol === "https:" ? "; Secure" : "";
      document.cookie = COOKIE + "=" + encodeURIComponent(id) + "; Max-Age=31536000; Path=/; SameSite=Lax" + secure;
    }
    return id;
  }

  function utmTags() {
    var tags = {};
    var stored = {};
    try { stored = JSON.parse(sessionStorage.getItem("tandem_utm") || "{}"); } catch (e) { stored = {}; }
    var params = new URLSearchParams(location.search);
    var fresh = UTM.some(function (name) { return params.get(name); });
    UTM.forEach(function (name) {
      var value = fresh ? params.get(name) : stored[name];
      if (value) { tags[name] = String(value).slice(0, 200); }
    });
    if (fresh) {
      try { sessionStorage.setItem("tandem_utm", JSON.stringify(tags)); } catch (e) { /* private mode */ }
    }
    return tags;
  }

  function send(event) {
    if (doNotTrack()) { return; }
    if (!consent) { queue.push(event); return; }
    event.anonymous_id = anonymousId();
    event.client_event_id = randomId();
    event.occurred_at = new Date().toISOString();
    var tags = utmTags();
    for (var name in tags) { if (!event[name]) { event[name] = tags[name]; } }
    var body = JSON.stringify(event);
    var url = endpoint + "/api/v1/events?key=" + encodeURIComponent(key);
    // text/plain keeps it a simple request (no preflight); keepalive lets it finish as the page unloads.
    try {
      fetch(url, { method: "POST", body: body, headers: { "Content-Type": "text/plain" },
                   keepalive: true, mode: "cors", credentials: "omit" }).catch(function () {});
    } catch (e) {
      if (navigator.sendBeacon) { navigator.sendBeacon(url, body); }
    }
  }

  function pageView() {
    send({ type: "page_view", url: location.href.slice(0, 2000), referrer: document.referrer.slice(0, 2000),
           properties: { title: document.title.slice(0, 300) } });
  }

  function emailIn(form) {
    var fields = form.querySelectorAll("input");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      var named = (field.type === "email") || /e-?mail/i.test(field.name || field.id || "");
      if (named && /^[^@\s]+@[^@\s]+\.[^@\s]{2,}$/.test((field.value || "").trim())) { return field.value.trim(); }
    }
    return "";
  }

  document.addEventListener("submit", function (submitted) {
    var form = submitted.target;
    if (!form || form.tagName !== "FORM" || form.hasAttribute("data-tandem-ignore")) { return; }
    var event = { type: "form_submit", url: location.href.slice(0, 2000),
                  properties: { form: (form.getAttribute("id") || form.getAttribute("name") || form.getAttribute("action") || "").slice(0, 200) } };
    var email = emailIn(form);
    if (email) { event.email = email; }
    send(event);
  }, true);

  window.tandem = function (command, value) {
    if (command === "consent") {
      consent = !!value;
      if (consent) {
        var waiting = queue; queue = [];
        waiting.forEach(send);
      } else {
        queue = [];
        document.cookie = COOKIE + "=; Max-Age=0; Path=/";
      }
    } else if (command === "track" && value && value.type) {
      send(value);
    }
  };

  pageView();
})();
