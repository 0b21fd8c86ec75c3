/* Call history page: its strings in French, Arabic and English, added to i18n.js's dictionary. */
(function () {
  "use strict";
  window.RafiqI18n.extend({
    fr: {
      "app.title": "Rafiq — historique des appels", "history.tagline": "Historique des appels",
      "history.filters": "Filtres", "history.q": "Rechercher dans les transcriptions", "history.from": "Du",
      "history.to": "Au", "history.agent": "Agent", "history.team": "Équipe", "history.campaign": "Campagne",
      "history.language": "Langue", "history.sentiment": "Sentiment client", "history.min_duration": "Durée minimale (s)",
      "history.wrap_up": "Code de clôture", "history.has_alert": "Alertes", "history.suggestion_used": "Suggestion utilisée",
      "history.any": "Tous", "history.yes": "Oui", "history.no": "Non", "history.apply": "Rechercher",
      "history.reset": "Effacer", "history.export_csv": "Exporter CSV", "history.export_jsonl": "Exporter JSON Lines",
      "history.results": "Appels", "history.count": "{n} appel(s) affiché(s)", "history.count_more": "{n} appel(s) affiché(s), d'autres suivent",
      "history.empty": "Aucun appel ne correspond.", "history.more": "Appels suivants", "history.live": "en direct",
      "history.col.started": "Début", "history.col.call": "Appel", "history.col.agent": "Agent",
      "history.col.campaign": "Campagne", "history.col.languages": "Langues", "history.col.duration": "Durée",
      "history.col.sentiment": "Sentiment", "history.col.used": "Suggestions utilisées", "history.col.alerts": "Alertes",
      "history.col.wrap_up": "Clôture", "history.error": "Recherche impossible : {detail}",
      "sentiment.negative": "Négatif", "sentiment.neutral": "Neutre", "sentiment.positive": "Positif"
    },
    ar: {
      "app.title": "Rafiq — سجل المكالمات", "history.tagline": "سجل المكالمات",
      "history.filters": "عوامل التصفية", "history.q": "البحث في النصوص المفرَّغة", "history.from": "من",
      "history.to": "إلى", "history.agent": "الوكيل", "history.team": "الفريق", "history.campaign": "الحملة",
      "history.language": "اللغة", "history.sentiment": "مشاعر العميل", "history.min_duration": "أدنى مدة (ثانية)",
      "history.wrap_up": "رمز الإغلاق", "history.has_alert": "التنبيهات", "history.suggestion_used": "اقتراح مستخدَم",
      "history.any": "الكل", "history.yes": "نعم", "history.no": "لا", "history.apply": "بحث",
      "history.reset": "مسح", "history.export_csv": "تصدير CSV", "history.export_jsonl": "تصدير JSON Lines",
      "history.results": "المكالمات", "history.count": "{n} مكالمة معروضة", "history.count_more": "{n} مكالمة معروضة، وهناك المزيد",
      "history.empty": "لا توجد مكالمة مطابقة.", "history.more": "المكالمات التالية", "history.live": "مباشر",
      "history.col.started": "البداية", "history.col.call": "المكالمة", "history.col.agent": "الوكيل",
      "history.col.campaign": "الحملة", "history.col.languages": "اللغات", "history.col.duration": "المدة",
      "history.col.sentiment": "المشاعر", "history.col.used": "اقتراحات مستخدَمة", "history.col.alerts": "التنبيهات",
      "history.col.wrap_up": "الإغلاق", "history.error": "تعذّر البحث: {detail}",
      "sentiment.negative": "سلبي", "sentiment.neutral": "محايد", "sentiment.positive": "إيجابي"
    },
    en: {
      "app.title": "Rafiq — call history", "history.tagline": "Call history",
      "history.filters": "Filters", "history.q": "Search the transcripts", "history.from": "From",
      "history.to": "To", "history.agent": "Agent", "history.team": "Team", "history.campaign": "Campaign",
      "history.language": "Language", "history.sentiment": "Customer sentiment", "history.min_duration": "Minimum duration (s)",
      "history.wrap_up": "Wrap-up code", "history.has_alert": "Alerts", "history.suggestion_used": "Suggestion used",
      "history.any": "Any", "history.yes": "Yes", "history.no": "No", "history.apply": "Search",
      "history.reset": "Clear", "history.export_csv": "Export CSV", "history.export_jsonl": "Export JSON Lines",
      "history.results": "Calls", "history.count": "{n} call(s) shown", "history.count_more": "{n} call(s) shown, more follow",
      "history.empty": "No call matches.", "history.more": "Next calls", "history.live": "live",
      "history.col.started": "Started", "history.col.call": "Call", "history.col.agent": "Agent",
      "history.col.campaign": "Campaign", "history.col.languages": "Languages", "history.col.duration": "Duration",
      "history.col.sentiment": "Sentiment", "history.col.used": "Suggestions used", "history.col.alerts": "Alerts",
      "history.col.wrap_up": "Wrap-up", "history.error": "Search failed: {detail}",
      "sentiment.negative": "Negative", "sentiment.neutral": "Neutral", "sentiment.positive": "Positive"
    }
  });
})();
