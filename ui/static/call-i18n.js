/* Call page: its strings in French, Arabic and English, added to i18n.js's dictionary. */
(function () {
  "use strict";
  window.RafiqI18n.extend({
    fr: {
      "app.title": "Rafiq — appel", "callpage.tagline": "Détail de l'appel", "callpage.back": "← Historique des appels",
      "callpage.summary": "Résumé", "callpage.wrap_up": "Code de clôture", "callpage.sentiment": "Sentiment du client",
      "callpage.transcript": "Transcription", "callpage.suggestions": "Suggestions", "callpage.alerts": "Alertes",
      "callpage.notes": "Notes", "callpage.quality": "Qualité", "callpage.compute": "Calcul",
      "callpage.title": "Appel {id}", "callpage.agent": "Agent", "callpage.team": "Équipe", "callpage.campaign": "Campagne",
      "callpage.started": "Début", "callpage.ended": "Fin", "callpage.duration": "Durée", "callpage.status": "État",
      "callpage.reason": "Fin de l'appel", "callpage.languages": "Langues",
      "callpage.suggested": "Suggéré", "callpage.confirmed": "Confirmé", "callpage.by": "Par", "callpage.at": "Le",
      "callpage.none": "—", "callpage.no_summary": "Pas encore de résumé (l'appel est en cours).",
      "callpage.no_sentiment": "Pas de sentiment dans cette transcription.", "callpage.empty": "Aucun(e)",
      "callpage.action.used": "Utilisée", "callpage.action.edited": "Modifiée", "callpage.action.dismissed": "Écartée",
      "callpage.action.shown": "Affichée seulement", "callpage.source": "Source : {title}",
      "callpage.acknowledged": "Acquittée", "callpage.open": "Non acquittée", "callpage.error": "Appel introuvable",
      "speaker.customer": "Client", "speaker.agent": "Agent", "callpage.live": "En direct", "callpage.ended_status": "Terminé"
    },
    ar: {
      "app.title": "Rafiq — مكالمة", "callpage.tagline": "تفاصيل المكالمة", "callpage.back": "→ سجل المكالمات",
      "callpage.summary": "الملخص", "callpage.wrap_up": "رمز الإغلاق", "callpage.sentiment": "مشاعر العميل",
      "callpage.transcript": "النص المفرَّغ", "callpage.suggestions": "الاقتراحات", "callpage.alerts": "التنبيهات",
      "callpage.notes": "الملاحظات", "callpage.quality": "الجودة", "callpage.compute": "الحوسبة",
      "callpage.title": "المكالمة {id}", "callpage.agent": "الوكيل", "callpage.team": "الفريق", "callpage.campaign": "الحملة",
      "callpage.started": "البداية", "callpage.ended": "النهاية", "callpage.duration": "المدة", "callpage.status": "الحالة",
      "callpage.reason": "سبب الانتهاء", "callpage.languages": "اللغات",
      "callpage.suggested": "مقترح", "callpage.confirmed": "مؤكَّد", "callpage.by": "بواسطة", "callpage.at": "في",
      "callpage.none": "—", "callpage.no_summary": "لا يوجد ملخص بعد (المكالمة جارية).",
      "callpage.no_sentiment": "لا توجد مشاعر في هذا النص.", "callpage.empty": "لا شيء",
      "callpage.action.used": "مستخدَمة", "callpage.action.edited": "معدَّلة", "callpage.action.dismissed": "متجاهَلة",
      "callpage.action.shown": "معروضة فقط", "callpage.source": "المصدر: {title}",
      "callpage.acknowledged": "تم الإقرار", "callpage.open": "لم يُقَرّ بعد", "callpage.error": "المكالمة غير موجودة",
      "speaker.customer": "العميل", "speaker.agent": "الوكيل", "callpage.live": "مباشر", "callpage.ended_status": "انتهت"
    },
    en: {
      "app.title": "Rafiq — call", "callpage.tagline": "Call detail", "callpage.back": "← Call history",
      "callpage.summary": "Summary", "callpage.wrap_up": "Wrap-up code", "callpage.sentiment": "Customer sentiment",
      "callpage.transcript": "Transcript", "callpage.suggestions": "Suggestions", "callpage.alerts": "Alerts",
      "callpage.notes": "Notes", "callpage.quality": "Quality", "callpage.compute": "Compute",
      "callpage.title": "Call {id}", "callpage.agent": "Agent", "callpage.team": "Team", "callpage.campaign": "Campaign",
      "callpage.started": "Started", "callpage.ended": "Ended", "callpage.duration": "Duration", "callpage.status": "Status",
      "callpage.reason": "End reason", "callpage.languages": "Languages",
      "callpage.suggested": "Suggested", "callpage.confirmed": "Confirmed", "callpage.by": "By", "callpage.at": "At",
      "callpage.none": "—", "callpage.no_summary": "No summary yet (the call is live).",
      "callpage.no_sentiment": "No sentiment in this transcript.", "callpage.empty": "None",
      "callpage.action.used": "Used", "callpage.action.edited": "Edited", "callpage.action.dismissed": "Dismissed",
      "callpage.action.shown": "Shown only", "callpage.source": "Source: {title}",
      "callpage.acknowledged": "Acknowledged", "callpage.open": "Not acknowledged", "callpage.error": "Call not found",
      "speaker.customer": "Customer", "speaker.agent": "Agent", "callpage.live": "Live", "callpage.ended_status": "Ended"
    }
  });
})();
