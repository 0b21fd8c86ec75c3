/* Rafiq agent panel: UI strings in French, Arabic and English.
 *
 * Elements carry data-i18n="key" (text content), data-i18n-placeholder,
 * data-i18n-title or data-i18n-aria-label; applyI18n() fills them in the
 * current language. t(key, vars) returns one string ({name} placeholders are
 * replaced by vars.name). The choice is kept in localStorage ("rafiq.lang").
 * This file is loaded in <head> so that lang/dir are set before first paint.
 */
(function () {
  "use strict";

  var STORAGE_KEY = "rafiq.lang";
  var DEFAULT_LANG = "fr";
  var RTL_LANGS = { ar: true };

  var DICT = {
    fr: {
      "app.name": "Rafiq",
      "app.tagline": "Assistant d'appel en temps réel",
      "app.title": "Rafiq — panneau agent",
      "lang.switch": "Langue de l'interface",
      "conn.idle": "Prêt",
      "conn.online": "Prêt",
      "conn.offline": "Serveur injoignable",
      "conn.connecting": "Connexion…",
      "conn.connected": "Connecté",
      "conn.reconnecting": "Reconnexion…",
      "conn.closed": "Flux terminé",
      "calls.title_mine": "Mes appels",
      "calls.title_team": "Appels de l'équipe",
      "calls.title_tenant": "Appels du centre",
      "calls.agent": "Agent : {name}",
      "calls.no_agent": "Sans agent",
      "follow.waiting": "Vos appels s'ouvrent ici dès qu'ils commencent.",
      "follow.live": "Votre appel en cours est ouvert.",
      "follow.reconnecting": "Suivi de vos appels interrompu : reconnexion…",
      "transcript.pick_agent": "Votre prochain appel s'ouvrira ici tout seul. Vous pouvez aussi rouvrir un appel précédent ou lancer la démo.",
      "transcript.pick_supervisor": "Choisissez un appel dans la liste.",
      "calls.title": "Appels",
      "calls.empty": "Aucun appel pour l'instant",
      "calls.id_label": "Identifiant d'appel",
      "calls.id_placeholder": "ex. demo-1234",
      "calls.open": "Ouvrir",
      "calls.live": "En direct",
      "calls.ended": "Terminé",
      "demo.play": "Lancer l'appel de démo",
      "demo.starting": "Démarrage…",
      "call.none": "Aucun appel sélectionné",
      "call.label": "Appel",
      "call.elapsed": "Durée",
      "status.idle": "—",
      "status.waiting": "En attente",
      "status.live": "En direct",
      "status.ended": "Terminé",
      "transcript.title": "Transcription",
      "transcript.empty": "En attente de parole…",
      "transcript.pick": "Choisissez un appel ou lancez la démo.",
      "transcript.jump": "Aller au plus récent",
      "transcript.partial": "en cours",
      "speaker.customer": "Client",
      "speaker.agent": "Agent",
      "speaker.unknown": "Intervenant",
      "suggestions.title": "Suggestions",
      "suggestions.empty": "Aucune suggestion pour l'instant",
      "suggestion.answers": "Répond à :",
      "suggestion.unknown_segment": "(phrase non reçue)",
      "suggestion.sources": "Sources",
      "suggestion.no_sources": "Aucune source",
      "suggestion.score": "Score",
      "suggestion.use": "Utiliser",
      "suggestion.edit": "Modifier",
      "suggestion.dismiss": "Écarter",
      "suggestion.save": "Enregistrer",
      "suggestion.cancel": "Annuler",
      "suggestion.show": "Afficher",
      "suggestion.hide": "Masquer",
      "suggestion.more": "Lire la suite",
      "suggestion.less": "Réduire",
      "suggestion.state.new": "Nouvelle",
      "suggestion.state.used": "Utilisée",
      "suggestion.state.edited": "Modifiée",
      "suggestion.state.dismissed": "Écartée",
      "suggestion.copied": "Texte copié dans le presse-papiers",
      "suggestion.other_language": "Pas de version {lang} : texte d'origine",
      "checklist.title": "Check-list",
      "checklist.greet": "Saluer le client",
      "checklist.verify": "Vérifier l'identité",
      "checklist.answer": "Répondre à la demande",
      "checklist.recap": "Récapituler",
      "checklist.close": "Conclure l'appel",
      "checklist.progress": "{done}/{total}",
      "error.call_id": "Identifiant d'appel invalide (1 à 128 caractères : lettres, chiffres, . _ - :)",
      "error.demo": "Impossible de lancer l'appel de démo",
      "error.not_ready": "Le service démarre, réessayez dans un instant",
      "error.feedback": "Impossible d'enregistrer l'action",
      "error.unknown_call": "Appel inconnu",
      "error.dismiss": "Fermer"
    },
    ar: {
      "app.name": "Rafiq",
      "app.tagline": "مساعد المكالمات في الوقت الفعلي",
      "app.title": "Rafiq — لوحة الوكيل",
      "lang.switch": "لغة الواجهة",
      "conn.idle": "جاهز",
      "conn.online": "جاهز",
      "conn.offline": "تعذّر الوصول إلى الخادم",
      "conn.connecting": "جارٍ الاتصال…",
      "conn.connected": "متصل",
      "conn.reconnecting": "جارٍ إعادة الاتصال…",
      "conn.closed": "انتهى البث",
      "calls.title_mine": "مكالماتي",
      "calls.title_team": "مكالمات الفريق",
      "calls.title_tenant": "مكالمات المركز",
      "calls.agent": "الوكيل: {name}",
      "calls.no_agent": "بدون وكيل",
      "follow.waiting": "تُفتح مكالماتك هنا فور بدايتها.",
      "follow.live": "مكالمتك الجارية مفتوحة.",
      "follow.reconnecting": "انقطعت متابعة مكالماتك: جارٍ إعادة الاتصال…",
      "transcript.pick_agent": "ستُفتح مكالمتك التالية هنا تلقائيًا. يمكنك أيضًا فتح مكالمة سابقة أو تشغيل المكالمة التجريبية.",
      "transcript.pick_supervisor": "اختر مكالمة من القائمة.",
      "calls.title": "المكالمات",
      "calls.empty": "لا توجد مكالمات بعد",
      "calls.id_label": "معرّف المكالمة",
      "calls.id_placeholder": "مثال: demo-1234",
      "calls.open": "فتح",
      "calls.live": "مباشر",
      "calls.ended": "انتهت",
      "demo.play": "تشغيل مكالمة تجريبية",
      "demo.starting": "جارٍ التشغيل…",
      "call.none": "لم يتم اختيار أي مكالمة",
      "call.label": "المكالمة",
      "call.elapsed": "المدة",
      "status.idle": "—",
      "status.waiting": "في الانتظار",
      "status.live": "مباشر",
      "status.ended": "انتهت",
      "transcript.title": "النص المفرَّغ",
      "transcript.empty": "في انتظار الكلام…",
      "transcript.pick": "اختر مكالمة أو شغّل المكالمة التجريبية.",
      "transcript.jump": "الانتقال إلى الأحدث",
      "transcript.partial": "جارٍ",
      "speaker.customer": "العميل",
      "speaker.agent": "الوكيل",
      "speaker.unknown": "متحدث",
      "suggestions.title": "الاقتراحات",
      "suggestions.empty": "لا توجد اقتراحات بعد",
      "suggestion.answers": "ردًّا على:",
      "suggestion.unknown_segment": "(لم تصل الجملة بعد)",
      "suggestion.sources": "المصادر",
      "suggestion.no_sources": "لا توجد مصادر",
      "suggestion.score": "الدرجة",
      "suggestion.use": "استخدام",
      "suggestion.edit": "تعديل",
      "suggestion.dismiss": "تجاهل",
      "suggestion.save": "حفظ",
      "suggestion.cancel": "إلغاء",
      "suggestion.show": "عرض",
      "suggestion.hide": "إخفاء",
      "suggestion.more": "اقرأ المزيد",
      "suggestion.less": "عرض أقل",
      "suggestion.state.new": "جديد",
      "suggestion.state.used": "مُستخدَم",
      "suggestion.state.edited": "مُعدَّل",
      "suggestion.state.dismissed": "متجاهَل",
      "suggestion.copied": "تم نسخ النص",
      "suggestion.other_language": "لا توجد نسخة {lang}: النص الأصلي",
      "checklist.title": "قائمة التحقق",
      "checklist.greet": "الترحيب بالعميل",
      "checklist.verify": "التحقق من الهوية",
      "checklist.answer": "الإجابة عن الطلب",
      "checklist.recap": "تلخيص الحل",
      "checklist.close": "إنهاء المكالمة",
      "checklist.progress": "{done}/{total}",
      "error.call_id": "معرّف مكالمة غير صالح (من 1 إلى 128 حرفًا: حروف وأرقام و . _ - :)",
      "error.demo": "تعذّر تشغيل المكالمة التجريبية",
      "error.not_ready": "الخدمة قيد التشغيل، أعد المحاولة بعد قليل",
      "error.feedback": "تعذّر حفظ الإجراء",
      "error.unknown_call": "مكالمة غير معروفة",
      "error.dismiss": "إغلاق"
    },
    en: {
      "app.name": "Rafiq",
      "app.tagline": "Real-time call assistant",
      "app.title": "Rafiq — agent panel",
      "lang.switch": "Interface language",
      "conn.idle": "Ready",
      "conn.online": "Ready",
      "conn.offline": "Server unreachable",
      "conn.connecting": "Connecting…",
      "conn.connected": "Connected",
      "conn.reconnecting": "Reconnecting…",
      "conn.closed": "Stream ended",
      "calls.title_mine": "My calls",
      "calls.title_team": "Team calls",
      "calls.title_tenant": "All calls",
      "calls.agent": "Agent: {name}",
      "calls.no_agent": "No agent",
      "follow.waiting": "Your calls open here as soon as they start.",
      "follow.live": "Your current call is open.",
      "follow.reconnecting": "Following your calls was interrupted: reconnecting…",
      "transcript.pick_agent": "Your next call will open here by itself. You can also reopen an earlier call or play the demo.",
      "transcript.pick_supervisor": "Pick a call from the list.",
      "calls.title": "Calls",
      "calls.empty": "No calls yet",
      "calls.id_label": "Call id",
      "calls.id_placeholder": "e.g. demo-1234",
      "calls.open": "Open",
      "calls.live": "Live",
      "calls.ended": "Ended",
      "demo.play": "Play demo call",
      "demo.starting": "Starting…",
      "call.none": "No call selected",
      "call.label": "Call",
      "call.elapsed": "Elapsed",
      "status.idle": "—",
      "status.waiting": "Waiting",
      "status.live": "Live",
      "status.ended": "Ended",
      "transcript.title": "Transcript",
      "transcript.empty": "Waiting for speech…",
      "transcript.pick": "Pick a call or play the demo call.",
      "transcript.jump": "Jump to latest",
      "transcript.partial": "in progress",
      "speaker.customer": "Customer",
      "speaker.agent": "Agent",
      "speaker.unknown": "Speaker",
      "suggestions.title": "Suggestions",
      "suggestions.empty": "No suggestions yet",
      "suggestion.answers": "Answers:",
      "suggestion.unknown_segment": "(utterance not received)",
      "suggestion.sources": "Sources",
      "suggestion.no_sources": "No sources",
      "suggestion.score": "Score",
      "suggestion.use": "Use",
      "suggestion.edit": "Edit",
      "suggestion.dismiss": "Dismiss",
      "suggestion.save": "Save",
      "suggestion.cancel": "Cancel",
      "suggestion.show": "Show",
      "suggestion.hide": "Hide",
      "suggestion.more": "Show more",
      "suggestion.less": "Show less",
      "suggestion.state.new": "New",
      "suggestion.state.used": "Used",
      "suggestion.state.edited": "Edited",
      "suggestion.state.dismissed": "Dismissed",
      "suggestion.copied": "Text copied to the clipboard",
      "suggestion.other_language": "No {lang} version: original text",
      "checklist.title": "Checklist",
      "checklist.greet": "Greet the customer",
      "checklist.verify": "Verify identity",
      "checklist.answer": "Answer the request",
      "checklist.recap": "Recap",
      "checklist.close": "Close the call",
      "checklist.progress": "{done}/{total}",
      "error.call_id": "Invalid call id (1 to 128 characters: letters, digits, . _ - :)",
      "error.demo": "Could not start the demo call",
      "error.not_ready": "The service is starting, try again in a moment",
      "error.feedback": "Could not save the action",
      "error.unknown_call": "Unknown call",
      "error.dismiss": "Close"
    }
  };

  function storedLang() {
    try {
      var v = window.localStorage.getItem(STORAGE_KEY);
      if (v && DICT[v]) return v;
    } catch (e) { /* storage disabled */ }
    return DEFAULT_LANG;
  }

  var current = storedLang();

  function t(key, vars) {
    var table = DICT[current] || DICT[DEFAULT_LANG];
    var s = table[key];
    if (s === undefined) s = DICT[DEFAULT_LANG][key];
    if (s === undefined) s = key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, name) {
        return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m;
      });
    }
    return s;
  }

  var ATTRS = [
    ["data-i18n-placeholder", "placeholder"],
    ["data-i18n-title", "title"],
    ["data-i18n-aria-label", "aria-label"]
  ];

  function applyI18n(root) {
    root = root || document;
    var nodes = root.querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = t(nodes[i].getAttribute("data-i18n"));
    }
    if (root.nodeType === 1 && root.hasAttribute("data-i18n")) {
      root.textContent = t(root.getAttribute("data-i18n"));
    }
    for (var a = 0; a < ATTRS.length; a++) {
      var list = root.querySelectorAll("[" + ATTRS[a][0] + "]");
      for (var j = 0; j < list.length; j++) {
        list[j].setAttribute(ATTRS[a][1], t(list[j].getAttribute(ATTRS[a][0])));
      }
    }
    if (root === document) document.title = t("app.title");
  }

  function applyDocumentLang() {
    var html = document.documentElement;
    html.setAttribute("lang", current);
    html.setAttribute("dir", RTL_LANGS[current] ? "rtl" : "ltr");
  }

  var listeners = [];

  function setLang(lang) {
    if (!DICT[lang]) return;
    current = lang;
    try { window.localStorage.setItem(STORAGE_KEY, lang); } catch (e) { /* ignore */ }
    applyDocumentLang();
    applyI18n(document);
    for (var i = 0; i < listeners.length; i++) {
      try { listeners[i](lang); } catch (e) { console.error(e); }
    }
  }

  function getLang() { return current; }
  function isRtl() { return !!RTL_LANGS[current]; }
  function onChange(fn) { listeners.push(fn); }

  // The FR / العربية / EN buttons (class "lang", data-lang): switch on click, aria-pressed follows.
  function bindLangButtons(root) {
    var buttons = Array.prototype.slice.call((root || document).querySelectorAll(".lang[data-lang]"));
    function mark() {
      buttons.forEach(function (b) {
        b.setAttribute("aria-pressed", b.getAttribute("data-lang") === current ? "true" : "false");
      });
    }
    buttons.forEach(function (b) {
      b.addEventListener("click", function () { setLang(b.getAttribute("data-lang")); });
    });
    onChange(mark);
    mark();
  }

  applyDocumentLang();

  /* A page's own strings ({lang: {key: text}}), added to the shared dictionary. */
  function extend(strings) {
    Object.keys(strings).forEach(function (lang) {
      Object.keys(strings[lang]).forEach(function (key) { DICT[lang][key] = strings[lang][key]; });
    });
  }

  window.RafiqI18n = {
    DICT: DICT,
    extend: extend,
    LANGS: ["fr", "ar", "en"],
    t: t,
    applyI18n: applyI18n,
    setLang: setLang,
    getLang: getLang,
    isRtl: isRtl,
    onChange: onChange,
    bindLangButtons: bindLangButtons
  };
  window.t = t;
})();
