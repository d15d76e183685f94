"""Realistic demo data: partners, venues, courses and ~40 sessions around today, with registrations.

Deterministic (a fixed random seed; dates relative to today) and idempotent: running it again adds nothing.
"""

import random
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from cms.models import SiteSettings
from cms.services import ensure_site
from courses import services
from courses.models import CoursePage, Participant, Registration, Session, Topic
from outreach.models import SkillItem
from partners.models import Partner, PartnerMembership, Venue, Ward
from partners.services import add_membership, course_group_for, create_partner

DEMO_PASSWORD = "dekiru-demo"
DEMO_USERS = [
    # username, display, superuser, partner name, role
    ("admin", "City administrator", True, None, None),
    ("npo-manager", "Partner manager (NPO)", False, "NPO法人かわさきデジタルサポート",
     PartnerMembership.Role.MANAGER),
    ("npo-instructor", "Partner instructor (NPO)", False, "NPO法人かわさきデジタルサポート",
     PartnerMembership.Role.INSTRUCTOR),
]

PARTNERS = [
    ("NPO法人かわさきデジタルサポート", "Kawasaki Digital Support (NPO)", Partner.Kind.NPO, "山本 恵子",
     "info@kawasaki-ds.example.jp", "0441234567"),
    ("株式会社ミライICT", "Mirai ICT Co., Ltd.", Partner.Kind.ICT_COMPANY, "佐藤 健", "seminar@mirai-ict.example.jp",
     "0449876543"),
    ("スマホショップ武蔵小杉店", "Smartphone Shop Musashi-Kosugi", Partner.Kind.CARRIER_SHOP, "田中 美咲",
     "kosugi@shop.example.jp", "0447771234"),
    ("宮前区役所 地域振興課", "Miyamae Ward Office", Partner.Kind.WARD_OFFICE, "鈴木 一郎",
     "miyamae@city.example.jp", "0448563111"),
]

# name, name_en, ward code, postal code, address, access, lat, lon, step-free, hearing loop, loaners, capacity
VENUES = [
    ("川崎市教育文化会館", "Kawasaki Education and Culture Hall", "141313", "210-0011", "川崎市川崎区富士見2-1-3",
     "JR川崎駅から徒歩15分", "35.528600", "139.707300", True, True, True, 30),
    ("幸市民館", "Saiwai Civic Hall", "141321", "212-0023", "川崎市幸区戸手本町1-11-2",
     "JR川崎駅西口からバス「幸区役所前」", "35.543900", "139.690600", True, False, True, 20),
    ("中原市民館", "Nakahara Civic Hall", "141330", "211-0004", "川崎市中原区新丸子東3-1100-12",
     "東急・JR武蔵小杉駅から徒歩3分", "35.578600", "139.660700", True, True, True, 24),
    ("高津市民館", "Takatsu Civic Hall", "141348", "213-0001", "川崎市高津区溝口1-4-1 ノクティ2 12階",
     "JR武蔵溝ノ口駅・東急溝の口駅から徒歩2分", "35.599900", "139.611300", True, False, False, 18),
    ("多摩市民館", "Tama Civic Hall", "141356", "214-0014", "川崎市多摩区登戸1775-1",
     "小田急・JR登戸駅から徒歩8分", "35.617700", "139.562700", False, False, True, 16),
    ("宮前市民館", "Miyamae Civic Hall", "141364", "216-0006", "川崎市宮前区宮前平2-20-4",
     "東急宮前平駅から徒歩10分", "35.585000", "139.581400", True, True, True, 20),
    ("麻生市民館", "Asao Civic Hall", "141372", "215-0004", "川崎市麻生区万福寺1-5-2",
     "小田急新百合ヶ丘駅から徒歩3分", "35.603100", "139.508400", True, False, True, 20),
]

TOPICS = [
    ("基本操作", "Basics", "basics"), ("LINE・連絡", "LINE and messaging", "messaging"),
    ("マイナンバーカード・行政手続", "My Number Card and online applications", "mynumber"),
    ("地図・おでかけ", "Maps and going out", "maps"), ("安全・詐欺対策", "Staying safe", "safety"),
]

# slug, owner partner (None = city), title, kana, title_en, summary, summary_en, device, topics, skills, bring
COURSES = [
    ("smartphone-basics-android", None, "はじめてのスマホ教室（Android）", "ハジメテノスマホキョウシツ アンドロイド",
     "Smartphone basics (Android)",
     "電源の入れ方、文字の大きさの変え方、アプリの開き方から、ゆっくり学びます。",
     "Switching on, making text bigger and opening apps, at a gentle pace.",
     CoursePage.Device.ANDROID, ["basics"], [1, 2, 3, 4], "お持ちのスマートフォン（貸出機もあります）"),
    ("smartphone-basics-iphone", None, "はじめてのスマホ教室（iPhone）", "ハジメテノスマホキョウシツ アイフォーン",
     "Smartphone basics (iPhone)",
     "iPhoneの基本操作を、講師とサポーターが一人ひとりに寄り添ってお伝えします。",
     "The basics of the iPhone, with a helper at your side.",
     CoursePage.Device.IPHONE, ["basics"], [1, 2, 3, 4], "お持ちのiPhone"),
    ("line-family", "NPO法人かわさきデジタルサポート", "LINEで家族とつながろう", "ラインデカゾクトツナガロウ",
     "Keep in touch with family on LINE",
     "LINEでメッセージや写真を送る、ビデオ通話をする方法を練習します。",
     "Practise sending messages and photos and making video calls on LINE.",
     CoursePage.Device.ANY, ["messaging"], [5, 6], "LINEが入ったスマートフォン"),
    ("mynumber-online", None, "マイナンバーカードでオンライン手続", "マイナンバーカードデオンラインテツヅキ",
     "Online applications with your My Number Card",
     "マイナポータルへのログインや、健康保険証としての利用登録を体験します。",
     "Log in to Mynaportal and register your card as a health-insurance card.",
     CoursePage.Device.ANY, ["mynumber"], [9, 10], "マイナンバーカード、暗証番号（4桁）、スマートフォン"),
    ("maps-outing", "株式会社ミライICT", "地図アプリでおでかけ", "チズアプリデオデカケ", "Going out with a map app",
     "地図アプリで目的地までの道順や電車の時間を調べる方法を学びます。",
     "Find a route and train times with a map app.",
     CoursePage.Device.ANY, ["maps"], [7, 8], "お持ちのスマートフォン"),
    ("scam-safety", "スマホショップ武蔵小杉店", "だまされない！スマホ安全教室", "ダマサレナイスマホアンゼンキョウシツ",
     "Staying safe: scams on your smartphone",
     "不審なSMSやメールの見分け方、パスワードの守り方を、実例で学びます。",
     "Spot scam SMS and e-mails and keep your passwords safe, with real examples.",
     CoursePage.Device.ANY, ["safety"], [10, 11, 12], "お持ちのスマートフォン"),
]

FAMILY_NAMES = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
                ("渡辺", "ワタナベ"), ("伊藤", "イトウ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
                ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"),
                ("佐々木", "ササキ"), ("山﨑", "ヤマザキ"), ("松本", "マツモト")]
GIVEN_NAMES = [("和子", "カズコ"), ("洋子", "ヨウコ"), ("幸子", "サチコ"), ("節子", "セツコ"), ("弘", "ヒロシ"),
               ("清", "キヨシ"), ("茂", "シゲル"), ("勝", "マサル"), ("恵子", "ケイコ"), ("正", "タダシ"),
               ("京子", "キョウコ"), ("博", "ヒロシ"), ("美代子", "ミヨコ"), ("実", "ミノル"), ("久美子", "クミコ")]
AGE_WEIGHTS = [("50-59", 4), ("60-64", 8), ("65-69", 18), ("70-74", 24), ("75-79", 22), ("80-84", 14),
               ("85+", 6), ("40-49", 2), ("30-39", 2)]

FULL_SESSION_NOTE = "デモ：満席・キャンセル待ちあり"


class Command(BaseCommand):
    help = "Load deterministic demo data (partners, venues, courses, ~40 sessions, registrations). Idempotent."

    def handle(self, *args, **options):
        with transaction.atomic():
            site = ensure_site()
            self.seed(site)
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: {Partner.objects.count()} partners, {Venue.objects.count()} venues, "
            f"{CoursePage.objects.count()} courses, {Session.objects.count()} sessions, "
            f"{Registration.objects.count()} registrations."))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, label, *_rest in DEMO_USERS:
            self.stdout.write(f"  {username:16} {label}")

    def seed(self, site):
        rng = random.Random(20260401)
        settings = SiteSettings.for_site(site)
        if not settings.phone_number:
            settings.phone_number = "044-200-0000"
            settings.phone_hours = "平日 9:00〜17:00"
            settings.phone_hours_en = "Weekdays 9:00–17:00"
            settings.save()

        partners = {}
        for name, name_en, kind, contact, email, phone in PARTNERS:
            partner = Partner.objects.filter(name=name).first() or create_partner(
                name=name, name_en=name_en, kind=kind, contact_name=contact, email=email, phone=phone)
            partners[name] = partner

        User = get_user_model()
        for username, label, superuser, partner_name, role in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, first_name=label, email=f"{username}@example.jp",
                            is_staff=True, is_superuser=superuser)
                user.set_password(DEMO_PASSWORD)
                user.save()
            if partner_name:
                add_membership(partner=partners[partner_name], user=user, role=role)

        wards = {w.code: w for w in Ward.objects.all()}
        venues = []
        for (name, name_en, ward_code, postal, address, access, lat, lon, step_free, loop, loaners,
             capacity) in VENUES:
            venue, _created = Venue.objects.get_or_create(name=name, defaults={
                "name_en": name_en, "ward": wards[ward_code], "postal_code": postal, "address": address,
                "access": access, "latitude": lat, "longitude": lon, "step_free": step_free, "hearing_loop": loop,
                "loaner_devices": loaners, "capacity": capacity})
            venues.append(venue)

        topics = {}
        for name, name_en, slug in TOPICS:
            topics[slug], _created = Topic.objects.get_or_create(slug=slug, defaults={"name": name, "name_en": name_en})

        courses = []
        for (slug, owner, title, kana, title_en, summary, summary_en, device, topic_slugs, skill_numbers,
             bring) in COURSES:
            course = CoursePage.objects.filter(slug=slug).first()
            if course is None:
                group = course_group_for(partners[owner] if owner else None)
                course = CoursePage(title=title, slug=slug, title_kana=kana, title_en=title_en, summary=summary,
                                    summary_en=summary_en, device=device, what_to_bring=bring,
                                    what_to_bring_en="Your smartphone (loan phones available at some venues)",
                                    target_audience="スマートフォンに不慣れな方、シニアの方",
                                    target_audience_en="People new to smartphones, older residents")
                course.topics = [topics[t] for t in topic_slugs]
                course.skills = list(SkillItem.objects.filter(number__in=skill_numbers))
                group.add_child(instance=course)
                course.save_revision().publish()
            courses.append(course)

        if Session.objects.exists():
            return  # sessions and registrations were seeded before: nothing more to add
        self.seed_sessions(rng, courses, venues, partners)

    def seed_sessions(self, rng, courses, venues, partners):
        today = timezone.localdate()
        tz = timezone.get_current_timezone()
        city_runners = [partners["NPO法人かわさきデジタルサポート"], partners["宮前区役所 地域振興課"]]
        sessions = []
        # 42 sessions: 3 a week from 8 weeks ago to 6 weeks ahead, on weekdays, morning or afternoon.
        for i in range(42):
            day = today + timedelta(days=-56 + i * 98 // 42)
            while day.weekday() >= 5:
                day += timedelta(days=1)
            course = courses[i % len(courses)]
            venue = venues[(i * 3) % len(venues)]
            start = time(10, 0) if i % 2 == 0 else time(14, 0)
            starts_at = datetime.combine(day, start, tzinfo=tz)
            owner = course.owner_partner
            organiser = owner or city_runners[i % len(city_runners)]
            capacity = min(venue.capacity, rng.choice([8, 10, 12, 15]))
            sessions.append(Session.objects.create(
                course=course, organiser=organiser, venue=venue, starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=2), capacity=capacity))

        now = timezone.now()
        upcoming = [s for s in sessions if s.starts_at > now + timedelta(days=1)]
        full_session = upcoming[1]
        full_session.capacity = 6
        full_session.notes = FULL_SESSION_NOTE
        full_session.save()
        people = self.make_people(rng, 160)
        pool = iter(people)
        for session in sessions:
            if session is full_session:
                count = 9  # 6 confirmed + 3 on the waiting list
            else:
                count = rng.randint(max(session.capacity // 3, 1), session.capacity - 1)
            for _i in range(count):
                person = next(pool, None) or rng.choice(people)
                if session.starts_at > now:
                    self.register_upcoming(rng, session, person)
                else:
                    self.record_past(rng, session, person)

    def make_people(self, rng, count):
        wards = list(Ward.objects.all())
        bands, weights = zip(*AGE_WEIGHTS, strict=True)
        people = []
        for n in range(count):
            (family, family_kana), (given, given_kana) = rng.choice(FAMILY_NAMES), rng.choice(GIVEN_NAMES)
            has_email = rng.random() < 0.45
            people.append(services.ParticipantDetails(
                name=f"{family} {given}", kana=f"{family_kana} {given_kana}",
                email=f"demo{n:03d}@example.jp" if has_email else "",
                phone=f"090{rng.randint(10000000, 99999999)}" if (not has_email or rng.random() < 0.5) else "",
                age_band=rng.choices(bands, weights)[0], ward_id=rng.choice(wards).pk,
                device=rng.choice(["android", "iphone", "android", "iphone", "none"]),
                accessibility_needs=rng.choice(["", "", "", "", "", "補聴器を使用しています", "車いすで参加します"]),
                consent=True))
        return people

    def register_upcoming(self, rng, session, person):
        booked_by = rng.choices(list(Registration.BookedBy), [7, 2, 1])[0]
        channel = Registration.Channel.PHONE if booked_by == Registration.BookedBy.STAFF else Registration.Channel.WEB
        booker = None
        if booked_by == Registration.BookedBy.FAMILY:
            booker = services.BookerDetails(name="家族 代理", relationship="娘", phone="08011112222")
        services.register(session=session, participant=person, channel=channel, booked_by=booked_by, booker=booker)

    def record_past(self, rng, session, person):
        """History: what registrations of sessions already held look like (attended or no-show)."""
        participant = Participant.objects.filter(name=person.name, phone=person.phone, email=person.email).first()
        if participant is None:
            participant = Participant.objects.create(
                name=person.name, kana=person.kana, email=person.email, phone=person.phone,
                age_band=person.age_band, ward_id=person.ward_id, device=person.device,
                consent_policy_version="2026-04", consented_at=session.starts_at - timedelta(days=10))
        if session.registrations.filter(participant=participant).exists():
            return
        status = Registration.Status.ATTENDED if rng.random() < 0.85 else Registration.Status.NO_SHOW
        Registration.objects.create(session=session, participant=participant, status=status,
                                    confirmed_at=session.starts_at - timedelta(days=7))
