from django.db import migrations

# The 12 can-do self-assessment items (PRODUCT.md). Data, not code: later edits go through the admin.
ITEMS = [
    (1, "電源を入れ、ロックを解除できる", "Switch on and unlock my phone", "foundation"),
    (2, "文字の大きさ・音量・明るさを調整できる", "Adjust text size, volume and brightness", "foundation"),
    (3, "ホーム画面からアプリを探して開ける", "Find and open an app", "foundation"),
    (4, "自宅や公共のWi-Fiに接続できる", "Connect to home or public Wi-Fi", "foundation"),
    (5, "電話をかける・受ける、写真を撮って見返せる", "Make and take calls, take and view photos", "communicating"),
    (6, "LINEで家族にメッセージや写真を送れる", "Send messages and photos on LINE", "communicating"),
    (7, "ネットで調べ、情報の信頼性を確かめられる", "Search online and judge whether information is reliable",
     "information"),
    (8, "地図アプリで目的地までの道順を調べられる", "Find a route with a map app", "information"),
    (9, "マイナンバーカードでオンライン手続ができる", "Do an online procedure with my My Number Card", "transacting"),
    (10, "パスワードを人に教えず、求められたら変更できる", "Keep passwords private and change them when asked",
     "safe_online"),
    (11, "不審なSMSやメールのリンクを開かない", "Spot and avoid scam SMS and e-mail links", "safe_online"),
    (12, "困った時に再起動や信頼できる相談先で解決できる", "When stuck, restart or find reliable help",
     "problem_solving"),
]


def load(apps, schema_editor):
    SkillItem = apps.get_model("outreach", "SkillItem")
    for number, text, text_en, group in ITEMS:
        SkillItem.objects.update_or_create(number=number, defaults={"text": text, "text_en": text_en, "group": group})


class Migration(migrations.Migration):
    dependencies = [("outreach", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
