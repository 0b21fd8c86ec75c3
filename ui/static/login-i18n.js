/* Rafiq sign-in page: its strings in French, Arabic and English, added to the dictionary of
 * i18n.js (loaded first), so that the language chosen here is the one of every page. */
(function () {
  "use strict";

  var STRINGS = {
    fr: {
      "app.title": "Rafiq — connexion",
      "login.title": "Connexion",
      "login.intro": "Connectez-vous avec le compte fourni par votre administrateur.",
      "login.username": "Nom d'utilisateur",
      "login.password": "Mot de passe",
      "login.show": "Afficher",
      "login.hide": "Masquer",
      "login.show_label": "Afficher le mot de passe",
      "login.hide_label": "Masquer le mot de passe",
      "login.submit": "Se connecter",
      "login.submitting": "Connexion…",
      "login.bad_credentials": "Nom d'utilisateur ou mot de passe incorrect.",
      "login.locked": "Trop de tentatives : ce compte est bloqué. Réessayez dans {wait}.",
      "login.unlocked": "Vous pouvez réessayer maintenant.",
      "login.missing": "Saisissez votre nom d'utilisateur et votre mot de passe.",
      "login.offline": "Serveur injoignable. Vérifiez la connexion puis réessayez.",
      "login.failed": "La connexion a échoué ({status}). Réessayez.",
      "login.signed_out": "Vous êtes déconnecté.",
      "login.expired": "Votre session a pris fin : reconnectez-vous.",
      "login.help": "Mot de passe oublié ? Demandez à votre administrateur de le réinitialiser.",
      "wait.min_s": "{m} min {s} s",
      "wait.s": "{s} s"
    },
    ar: {
      "app.title": "Rafiq — تسجيل الدخول",
      "login.title": "تسجيل الدخول",
      "login.intro": "سجّل الدخول بالحساب الذي زوّدك به المسؤول.",
      "login.username": "اسم المستخدم",
      "login.password": "كلمة المرور",
      "login.show": "إظهار",
      "login.hide": "إخفاء",
      "login.show_label": "إظهار كلمة المرور",
      "login.hide_label": "إخفاء كلمة المرور",
      "login.submit": "دخول",
      "login.submitting": "جارٍ تسجيل الدخول…",
      "login.bad_credentials": "اسم المستخدم أو كلمة المرور غير صحيحة.",
      "login.locked": "محاولات كثيرة: هذا الحساب مقفل مؤقتًا. أعد المحاولة بعد {wait}.",
      "login.unlocked": "يمكنك المحاولة من جديد الآن.",
      "login.missing": "أدخل اسم المستخدم وكلمة المرور.",
      "login.offline": "تعذّر الوصول إلى الخادم. تحقّق من الاتصال ثم أعد المحاولة.",
      "login.failed": "تعذّر تسجيل الدخول ({status}). أعد المحاولة.",
      "login.signed_out": "تم تسجيل خروجك.",
      "login.expired": "انتهت جلستك: سجّل الدخول من جديد.",
      "login.help": "نسيت كلمة المرور؟ اطلب من المسؤول إعادة تعيينها.",
      "wait.min_s": "{m} د {s} ث",
      "wait.s": "{s} ث"
    },
    en: {
      "app.title": "Rafiq — sign in",
      "login.title": "Sign in",
      "login.intro": "Sign in with the account your administrator gave you.",
      "login.username": "Username",
      "login.password": "Password",
      "login.show": "Show",
      "login.hide": "Hide",
      "login.show_label": "Show the password",
      "login.hide_label": "Hide the password",
      "login.submit": "Sign in",
      "login.submitting": "Signing in…",
      "login.bad_credentials": "Wrong username or password.",
      "login.locked": "Too many attempts: this account is locked. Try again in {wait}.",
      "login.unlocked": "You can try again now.",
      "login.missing": "Enter your username and your password.",
      "login.offline": "Cannot reach the server. Check the connection, then try again.",
      "login.failed": "Sign-in failed ({status}). Try again.",
      "login.signed_out": "You are signed out.",
      "login.expired": "Your session has ended: please sign in again.",
      "login.help": "Forgot your password? Ask your administrator to reset it.",
      "wait.min_s": "{m} min {s} s",
      "wait.s": "{s} s"
    }
  };

  window.RafiqI18n.extend(STRINGS);
})();
