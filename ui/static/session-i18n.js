/* Rafiq: the strings of the shared parts of every signed-in page (who is signed in, sign-out,
 * the links between pages, role names), added to the dictionary of i18n.js (loaded first). */
(function () {
  "use strict";

  var STRINGS = {
    fr: {
      "session.pages": "Pages",
      "session.user": "Utilisateur connecté",
      "session.sign_out": "Se déconnecter",
      "session.sign_out_failed": "Déconnexion impossible, réessayez",
      "nav.panel": "Appels",
      "nav.trainer": "Base de connaissances", "nav.checklists": "Scripts d'appel",
      "nav.admin": "Administration",
      "nav.floor": "Plateau", "nav.alerts": "Alertes",
      "nav.analytics": "Tableau de bord",
      "nav.history": "Historique des appels",
      "role.agent": "Agent",
      "role.supervisor": "Superviseur",
      "role.trainer": "Formateur",
      "role.admin": "Administrateur",
      "role.ingest": "Ingestion audio"
    },
    ar: {
      "session.pages": "الصفحات",
      "session.user": "المستخدم المتصل",
      "session.sign_out": "تسجيل الخروج",
      "session.sign_out_failed": "تعذّر تسجيل الخروج، أعد المحاولة",
      "nav.panel": "المكالمات",
      "nav.trainer": "قاعدة المعارف", "nav.checklists": "سيناريوهات المكالمات",
      "nav.admin": "الإدارة",
      "nav.floor": "المنصة", "nav.alerts": "التنبيهات",
      "nav.analytics": "لوحة المؤشرات",
      "nav.history": "سجل المكالمات",
      "role.agent": "وكيل",
      "role.supervisor": "مشرف",
      "role.trainer": "مدرّب",
      "role.admin": "مسؤول",
      "role.ingest": "استقبال الصوت"
    },
    en: {
      "session.pages": "Pages",
      "session.user": "Signed-in user",
      "session.sign_out": "Sign out",
      "session.sign_out_failed": "Could not sign out, try again",
      "nav.panel": "Calls",
      "nav.trainer": "Knowledge base", "nav.checklists": "Call scripts",
      "nav.history": "Call history",
      "nav.admin": "Administration",
      "nav.floor": "Floor", "nav.alerts": "Alerts",
      "nav.analytics": "Dashboard",
      "role.agent": "Agent",
      "role.supervisor": "Supervisor",
      "role.trainer": "Trainer",
      "role.admin": "Administrator",
      "role.ingest": "Audio ingest"
    }
  };

  window.RafiqI18n.extend(STRINGS);
})();
