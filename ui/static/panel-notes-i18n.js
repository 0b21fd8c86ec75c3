/* Rafiq agent panel, notes from supervisors (panel-notes.js): strings in French, Arabic, English. */
(function () {
  "use strict";

  window.RafiqI18n.extend({
    fr: {
      "notes.title": "Notes du superviseur", "notes.empty": "Aucune note sur cet appel",
      "notes.write": "Note à l'agent", "notes.placeholder": "Une note à l'agent (Ctrl+Entrée pour envoyer)",
      "notes.send": "Envoyer la note", "notes.failed": "Note non envoyée :"
    },
    ar: {
      "notes.title": "ملاحظات المشرف", "notes.empty": "لا توجد ملاحظات على هذه المكالمة",
      "notes.write": "ملاحظة للموظف", "notes.placeholder": "ملاحظة للموظف (Ctrl+Enter للإرسال)",
      "notes.send": "إرسال الملاحظة", "notes.failed": "لم تُرسل الملاحظة:"
    },
    en: {
      "notes.title": "Supervisor notes", "notes.empty": "No note on this call",
      "notes.write": "Note to the agent", "notes.placeholder": "A note to the agent (Ctrl+Enter to send)",
      "notes.send": "Send note", "notes.failed": "Note not sent:"
    }
  });
})();
