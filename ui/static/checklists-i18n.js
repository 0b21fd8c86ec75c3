/* Rafiq call-script / quality checklist editor: its UI strings in French, Arabic and English. */
(function () {
  "use strict";

  window.RafiqI18n.extend({
    fr: {
      "app.title": "Rafiq — scripts d'appel", "cl.tagline": "Scripts d'appel et qualité",
      "cl.list": "Scripts par campagne", "cl.empty": "Aucun script pour l'instant", "cl.new": "Nouveau script",
      "cl.pick": "Choisissez un script ou créez-en un.", "cl.name": "Nom", "cl.campaign": "Campagne",
      "cl.all_campaigns": "toutes les campagnes", "cl.remind_after": "Rappel après (s)", "cl.default": "par défaut",
      "cl.products": "Produits (fiches de faits)", "cl.comma": "séparés par des virgules", "cl.steps": "Étapes",
      "cl.steps_hint": "Chaque étape est cochée quand l'agent dit une de ses expressions, ou une phrase de même sens qu'un de ses exemples, dans n'importe quelle langue.",
      "cl.add_item": "Ajouter une étape", "cl.save": "Enregistrer", "cl.delete": "Supprimer",
      "cl.item_label": "Libellé", "cl.item_id": "Identifiant", "cl.weight": "Poids", "cl.required": "Obligatoire",
      "cl.marks_end": "Annonce la fin", "cl.remove": "Retirer", "cl.phrases": "Expressions (une par ligne)",
      "cl.examples": "Phrases d'exemple (une par ligne)", "cl.title_new": "Nouveau script",
      "cl.title_edit": "Modifier « {name} » (v{version})", "cl.saved": "Enregistré (v{version})",
      "cl.deleted": "Supprimé", "cl.confirm_delete": "Supprimer ce script ?", "cl.every_campaign": "Toutes les campagnes",
      "cl.new_step": "Nouvelle étape"
    },
    ar: {
      "app.title": "رفيق — سيناريوهات المكالمات", "cl.tagline": "سيناريوهات المكالمات والجودة",
      "cl.list": "السيناريوهات حسب الحملة", "cl.empty": "لا توجد سيناريوهات بعد", "cl.new": "سيناريو جديد",
      "cl.pick": "اختر سيناريو أو أنشئ واحدا.", "cl.name": "الاسم", "cl.campaign": "الحملة",
      "cl.all_campaigns": "كل الحملات", "cl.remind_after": "تذكير بعد (ثانية)", "cl.default": "افتراضي",
      "cl.products": "المنتجات (بطاقات المعلومات)", "cl.comma": "مفصولة بفواصل", "cl.steps": "الخطوات",
      "cl.steps_hint": "تُؤشَّر كل خطوة حين يقول الوكيل إحدى عباراتها، أو جملة بنفس معنى أحد أمثلتها، بأي لغة.",
      "cl.add_item": "إضافة خطوة", "cl.save": "حفظ", "cl.delete": "حذف",
      "cl.item_label": "العنوان", "cl.item_id": "المعرّف", "cl.weight": "الوزن", "cl.required": "إلزامية",
      "cl.marks_end": "تعلن النهاية", "cl.remove": "إزالة", "cl.phrases": "العبارات (واحدة في كل سطر)",
      "cl.examples": "جمل أمثلة (واحدة في كل سطر)", "cl.title_new": "سيناريو جديد",
      "cl.title_edit": "تعديل «{name}» (الإصدار {version})", "cl.saved": "تم الحفظ (الإصدار {version})",
      "cl.deleted": "تم الحذف", "cl.confirm_delete": "حذف هذا السيناريو؟", "cl.every_campaign": "كل الحملات",
      "cl.new_step": "خطوة جديدة"
    },
    en: {
      "app.title": "Rafiq — call scripts", "cl.tagline": "Call scripts and quality",
      "cl.list": "Scripts per campaign", "cl.empty": "No script yet", "cl.new": "New script",
      "cl.pick": "Pick a script or create one.", "cl.name": "Name", "cl.campaign": "Campaign",
      "cl.all_campaigns": "every campaign", "cl.remind_after": "Reminder after (s)", "cl.default": "default",
      "cl.products": "Products (fact chips)", "cl.comma": "comma-separated", "cl.steps": "Steps",
      "cl.steps_hint": "A step is ticked when the agent says one of its phrases, or a sentence meaning the same as one of its examples, in any language.",
      "cl.add_item": "Add a step", "cl.save": "Save", "cl.delete": "Delete",
      "cl.item_label": "Label", "cl.item_id": "Id", "cl.weight": "Weight", "cl.required": "Required",
      "cl.marks_end": "Marks the end", "cl.remove": "Remove", "cl.phrases": "Phrases (one per line)",
      "cl.examples": "Example sentences (one per line)", "cl.title_new": "New script",
      "cl.title_edit": "Edit “{name}” (v{version})", "cl.saved": "Saved (v{version})",
      "cl.deleted": "Deleted", "cl.confirm_delete": "Delete this script?", "cl.every_campaign": "Every campaign",
      "cl.new_step": "New step"
    }
  });
})();
