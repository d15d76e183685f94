from django.db import migrations

# The usual topics of support-desk consultations. Data, not code: later edits go through the admin.
TOPICS = [
    (10, "スマホの基本操作", "Basic smartphone use"),
    (20, "インターネット・Wi-Fi", "Internet and Wi-Fi"),
    (30, "LINE・メッセージ", "LINE and messaging"),
    (40, "マイナンバーカード", "My Number Card"),
    (50, "マイナポータル・健康保険証", "Mynaportal and health-insurance card"),
    (60, "行政手続のオンライン申請", "Online applications to the city"),
    (70, "キャッシュレス決済", "Cashless payment"),
    (80, "オンライン診療・予約", "Online medical appointments"),
    (90, "地図・交通", "Maps and transport"),
    (100, "詐欺・セキュリティ", "Scams and security"),
    (110, "その他", "Other"),
]


def load(apps, schema_editor):
    ConsultationTopic = apps.get_model("outreach", "ConsultationTopic")
    for order, name, name_en in TOPICS:
        ConsultationTopic.objects.update_or_create(name=name, defaults={"name_en": name_en, "sort_order": order})


class Migration(migrations.Migration):
    dependencies = [("outreach", "0003_outreach_data")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
