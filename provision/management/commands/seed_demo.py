"""Realistic demo data for Kawasaki: partners, venues, courses, ~300 sessions and ~4,000 registrations, can-do
self-assessments of the classes held, ~1,500 support-desk consultations, and the reference data (population,
internet-usage rates, KPI targets: the shipped defaults, loaded by outreach.reference_data).

Dates are relative to today in the site's time zone (Asia/Tokyo): history from the start of the previous fiscal
year up to yesterday, today's classes on a weekday, and the next two months. Everything else comes from one
fixed random seed, so two runs on the same day give the same data.

Idempotent: partners, venues, topics, courses and users are looked up by name before they are created and are
never changed; sessions and their registrations are seeded only into a database that has no session yet,
self-assessments, consultations and each table of reference data only where there is none yet. Running the
command again adds nothing and changes nothing.

History (sessions already held) is written in bulk, as an import would, within the model constraints. Bookings for
classes still to come go through `courses.services.register`, so seats and the waiting list are handed out by the
same rules as for residents, and a few are cancelled through `cancel_registration` and `cancel_session`.
"""

import bisect
import itertools
import random
import time as clock
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from cms import roles
from cms.models import SiteSettings
from courses import outbox, services
from courses.models import CoursePage, Participant, Registration, Session, Topic
from courses.page_access import course_group_for
from outreach import reference_data
from outreach.models import Consultation, ConsultationTopic, SelfAssessment, SkillItem, SkillScore
from partners.models import Partner, PartnerMembership, Venue, Ward
from partners.services import add_membership, create_partner
from provision.services import ensure_site

SEED = 20260401
DEMO_PASSWORD = "dekiru-demo"
FULL_SESSION_NOTE = "デモ：満席・キャンセル待ちあり"
FULL_SESSION_NOTE_EN = "Demo: full, with a waiting list"

NPO_DS = "NPO法人かわさきデジタルサポート"
MIRAI = "株式会社ミライICT"
SHOP_KOSUGI = "スマホショップ武蔵小杉店"
MIYAMAE_OFFICE = "宮前区役所 地域振興課"
ASAO_SALON = "NPO法人あさおITサロン"
NAKAHARA_NPO = "NPO法人なかはらスマホ応援隊"
TECHLAB = "株式会社かながわテックラボ"
SHOP_MIZONOKUCHI = "スマホショップ溝の口駅前店"
SHOP_KAWASAKI = "スマホショップ川崎駅前店"
OSHIMA_ASSOC = "大島町内会"
MINAMIKASE_ASSOC = "南加瀬町内会"
KAWASAKI_OFFICE = "川崎区役所 地域振興課"


class DemoUser(NamedTuple):
    username: str
    label: str
    superuser: bool
    partner: str | None  # partner name, for partner staff
    role: str | None  # PartnerMembership.Role
    group: str  # one of cms.roles


DEMO_USERS = [
    DemoUser("admin", "City administrator", True, None, None, roles.CITY_ADMINISTRATOR),
    DemoUser("officer", "City programme officer", False, None, None, roles.CITY_PROGRAMME_OFFICER),
    DemoUser("analyst", "City analyst", False, None, None, roles.CITY_ANALYST),
    DemoUser("callcentre", "Call-centre operator", False, None, None, roles.CALL_CENTRE_OPERATOR),
    DemoUser("npo-manager", "Partner manager (NPO)", False, NPO_DS, PartnerMembership.Role.MANAGER,
             roles.PARTNER_MANAGER),
    DemoUser("ict-manager", "Partner manager (ICT company)", False, MIRAI, PartnerMembership.Role.MANAGER,
             roles.PARTNER_MANAGER),
    DemoUser("npo-instructor", "Partner instructor (NPO)", False, NPO_DS, PartnerMembership.Role.INSTRUCTOR,
             roles.PARTNER_INSTRUCTOR),
]

# --- Kawasaki (2020 census, preliminary; PRODUCT.md) -------------------------------------------------------

KAWASAKI_KU, SAIWAI, NAKAHARA, TAKATSU, TAMA, MIYAMAE, ASAO = (
    "141313", "141321", "141330", "141348", "141356", "141364", "141372")
# The preliminary figures give 多摩区 and 麻生区 together (402,742); split here roughly as the wards are.
WARD_POPULATION = {KAWASAKI_KU: 233_228, SAIWAI: 171_188, NAKAHARA: 263_785, TAKATSU: 234_342, TAMA: 218_000,
                   MIYAMAE: 233_796, ASAO: 184_742}
ALL_WARDS = tuple(WARD_POPULATION)


class PartnerSpec(NamedTuple):
    name: str
    name_en: str
    kind: str
    contact_name: str
    email: str
    phone: str
    area: tuple[str, ...]  # wards where it holds classes at city venues (its own venues are always used)
    venue_kinds: tuple[str, ...]  # which kinds of city venue it uses there
    activity: float  # relative number of classes it runs


Kind = Partner.Kind
PARTNERS = [
    PartnerSpec(NPO_DS, "Kawasaki Digital Support (NPO)", Kind.NPO, "山本 恵子", "info@kawasaki-ds.example.jp",
                "0441234567", ALL_WARDS, ("civic", "library"), 10),
    PartnerSpec(MIRAI, "Mirai ICT Co., Ltd.", Kind.ICT_COMPANY, "佐藤 健", "seminar@mirai-ict.example.jp",
                "0449876543", (KAWASAKI_KU, SAIWAI, NAKAHARA), ("civic", "library"), 7),
    PartnerSpec(SHOP_KOSUGI, "Smartphone Shop Musashi-Kosugi", Kind.CARRIER_SHOP, "田中 美咲", "kosugi@shop.example.jp",
                "0447771234", (), (), 6),
    PartnerSpec(MIYAMAE_OFFICE, "Miyamae Ward Office", Kind.WARD_OFFICE, "鈴木 一郎", "miyamae@city.example.jp",
                "0448563111", (MIYAMAE,), ("civic", "community"), 6),
    PartnerSpec(ASAO_SALON, "Asao IT Salon (NPO)", Kind.NPO, "石川 由美子", "salon@asao-it.example.jp", "08034561207",
                (ASAO, TAMA), ("civic", "library", "community"), 6),
    PartnerSpec(NAKAHARA_NPO, "Nakahara Smartphone Supporters (NPO)", Kind.NPO, "中島 大輔",
                "office@nakahara-sumaho.example.jp", "07012093348", (NAKAHARA, TAKATSU, SAIWAI),
                ("civic", "library", "community"), 5),
    PartnerSpec(TECHLAB, "Kanagawa Tech Lab Inc.", Kind.ICT_COMPANY, "藤田 直美", "academy@kanagawa-techlab.example.jp",
                "08077125590", (TAKATSU, MIYAMAE), ("civic",), 5),
    PartnerSpec(SHOP_MIZONOKUCHI, "Smartphone Shop Mizonokuchi", Kind.CARRIER_SHOP, "森 拓也",
                "mizonokuchi@shop.example.jp", "08015586630", (), (), 6),
    PartnerSpec(SHOP_KAWASAKI, "Smartphone Shop Kawasaki Station", Kind.CARRIER_SHOP, "岡田 愛",
                "kawasaki@shop.example.jp", "07044917725", (), (), 6),
    PartnerSpec(OSHIMA_ASSOC, "Oshima Neighbourhood Association", Kind.COMMUNITY_ASSOCIATION, "金子 茂",
                "oshima-chonaikai@example.jp", "09028813364", (KAWASAKI_KU,), ("community",), 5),
    PartnerSpec(MINAMIKASE_ASSOC, "Minamikase Neighbourhood Association", Kind.COMMUNITY_ASSOCIATION, "遠藤 節子",
                "minamikase-chonaikai@example.jp", "09063470921", (SAIWAI,), ("community",), 5),
    PartnerSpec(KAWASAKI_OFFICE, "Kawasaki Ward Office", Kind.WARD_OFFICE, "青木 修", "kawasaki-ku@city.example.jp",
                "08090214476", (KAWASAKI_KU,), ("civic", "community"), 6),
]


class VenueSpec(NamedTuple):
    name: str
    name_en: str
    kind: str  # civic, library, community, ward_office, shop, company: which organisers use it
    ward: str
    postal_code: str
    address: str
    address_en: str
    access: str
    access_en: str
    latitude: str
    longitude: str
    step_free: bool
    hearing_loop: bool
    loaner_devices: bool
    capacity: int
    owner: str | None = None  # partner name; None for a city venue


VENUES = [
    VenueSpec("川崎市教育文化会館", "Kawasaki Education and Culture Hall", "civic", KAWASAKI_KU, "210-0011",
              "川崎市川崎区富士見2-1-3", "2-1-3 Fujimi, Kawasaki-ku", "JR川崎駅から徒歩15分",
              "15 min walk from JR Kawasaki Station", "35.528600", "139.707300", True, True, True, 30),
    VenueSpec("川崎区役所", "Kawasaki Ward Office", "ward_office", KAWASAKI_KU, "210-8570", "川崎市川崎区東田町8",
              "8 Higashida-cho, Kawasaki-ku", "JR川崎駅から徒歩8分", "8 min walk from JR Kawasaki Station",
              "35.530800", "139.702900", True, True, False, 20, KAWASAKI_OFFICE),
    VenueSpec("川崎図書館", "Kawasaki Library", "library", KAWASAKI_KU, "210-0007",
              "川崎市川崎区駅前本町12-1 川崎駅前タワー・リバーク3階", "3F, 12-1 Ekimae-honcho, Kawasaki-ku",
              "JR川崎駅から徒歩3分", "3 min walk from JR Kawasaki Station", "35.532900", "139.700800",
              True, False, False, 16),
    VenueSpec("大島いこいの家", "Oshima Seniors' Centre", "community", KAWASAKI_KU, "210-0834",
              "川崎市川崎区大島4-22-8", "4-22-8 Oshima, Kawasaki-ku", "川崎駅東口からバス「大島四ツ角」下車徒歩3分",
              "Bus from Kawasaki Station East Exit to Oshima-yotsukado, then 3 min walk", "35.525100", "139.718200",
              False, False, True, 12),
    VenueSpec("スマホショップ川崎駅前店", "Smartphone Shop Kawasaki Station", "shop", KAWASAKI_KU, "210-0006",
              "川崎市川崎区砂子1-7-3 砂子ビル1階", "1F, 1-7-3 Isago, Kawasaki-ku", "JR川崎駅から徒歩4分",
              "4 min walk from JR Kawasaki Station", "35.530400", "139.699100", True, False, True, 5, SHOP_KAWASAKI),
    VenueSpec("幸市民館", "Saiwai Civic Hall", "civic", SAIWAI, "212-0023", "川崎市幸区戸手本町1-11-2",
              "1-11-2 Totehoncho, Saiwai-ku", "JR川崎駅西口からバス「幸区役所前」",
              "Bus from JR Kawasaki Station West Exit to Saiwai Kuyakusho-mae", "35.543900", "139.690600",
              True, False, True, 20),
    VenueSpec("南加瀬いこいの家", "Minamikase Seniors' Centre", "community", SAIWAI, "212-0055",
              "川崎市幸区南加瀬4-11-3", "4-11-3 Minamikase, Saiwai-ku", "JR鹿島田駅からバス「南加瀬」下車徒歩2分",
              "Bus from JR Kashimada Station to Minamikase, then 2 min walk", "35.555300", "139.668900",
              True, False, False, 12),
    VenueSpec("鹿島田こども文化センター", "Kashimada Community Centre", "community", SAIWAI, "212-0058",
              "川崎市幸区鹿島田1-15-6", "1-15-6 Kashimada, Saiwai-ku", "JR鹿島田駅から徒歩6分",
              "6 min walk from JR Kashimada Station", "35.553400", "139.676800", True, False, False, 14),
    VenueSpec("中原市民館", "Nakahara Civic Hall", "civic", NAKAHARA, "211-0004", "川崎市中原区新丸子東3-1100-12",
              "3-1100-12 Shinmarukohigashi, Nakahara-ku", "東急・JR武蔵小杉駅から徒歩3分",
              "3 min walk from Musashi-Kosugi Station (Tokyu, JR)", "35.578600", "139.660700", True, True, True, 24),
    VenueSpec("中原図書館", "Nakahara Library", "library", NAKAHARA, "211-0063", "川崎市中原区小杉町3-1301",
              "3-1301 Kosugi-machi, Nakahara-ku", "JR横須賀線武蔵小杉駅から徒歩1分",
              "1 min walk from JR Musashi-Kosugi Station (Yokosuka Line)", "35.577300", "139.658900",
              True, True, False, 16),
    VenueSpec("新丸子いこいの家", "Shinmaruko Seniors' Centre", "community", NAKAHARA, "211-0005",
              "川崎市中原区新丸子町915-3", "915-3 Shinmaruko-machi, Nakahara-ku", "東急新丸子駅から徒歩5分",
              "5 min walk from Tokyu Shin-Maruko Station", "35.581200", "139.662400", False, False, True, 12),
    VenueSpec("スマホショップ武蔵小杉店", "Smartphone Shop Musashi-Kosugi", "shop", NAKAHARA, "211-0063",
              "川崎市中原区小杉町3-264-3 小杉ビル1階", "1F, 3-264-3 Kosugi-machi, Nakahara-ku",
              "東急・JR武蔵小杉駅から徒歩2分", "2 min walk from Musashi-Kosugi Station", "35.576400", "139.660200",
              True, False, True, 5, SHOP_KOSUGI),
    VenueSpec("高津市民館", "Takatsu Civic Hall", "civic", TAKATSU, "213-0001", "川崎市高津区溝口1-4-1 ノクティ2 12階",
              "12F Nocty 2, 1-4-1 Mizonokuchi, Takatsu-ku", "JR武蔵溝ノ口駅・東急溝の口駅から徒歩2分",
              "2 min walk from JR Musashi-Mizonokuchi and Tokyu Mizonokuchi stations", "35.599900", "139.611300",
              True, False, False, 18),
    VenueSpec("高津図書館", "Takatsu Library", "library", TAKATSU, "213-0001", "川崎市高津区溝口1-4-1 ノクティ2 11階",
              "11F Nocty 2, 1-4-1 Mizonokuchi, Takatsu-ku", "JR武蔵溝ノ口駅・東急溝の口駅から徒歩2分",
              "2 min walk from JR Musashi-Mizonokuchi and Tokyu Mizonokuchi stations", "35.599800", "139.611100",
              True, True, False, 16),
    VenueSpec("かながわテックラボ セミナールーム", "Kanagawa Tech Lab Seminar Room", "company", TAKATSU, "213-0012",
              "川崎市高津区坂戸3-2-1 KSP東棟2階", "2F KSP East, 3-2-1 Sakado, Takatsu-ku",
              "JR武蔵溝ノ口駅から無料シャトルバス", "Free shuttle bus from JR Musashi-Mizonokuchi Station",
              "35.593000", "139.611000", True, True, True, 20, TECHLAB),
    VenueSpec("スマホショップ溝の口駅前店", "Smartphone Shop Mizonokuchi", "shop", TAKATSU, "213-0001",
              "川崎市高津区溝口2-1-15 溝口駅前ビル1階", "1F, 2-1-15 Mizonokuchi, Takatsu-ku",
              "東急溝の口駅から徒歩1分", "1 min walk from Tokyu Mizonokuchi Station", "35.600600", "139.610300",
              True, False, True, 4, SHOP_MIZONOKUCHI),
    VenueSpec("多摩市民館", "Tama Civic Hall", "civic", TAMA, "214-0014", "川崎市多摩区登戸1775-1",
              "1775-1 Noborito, Tama-ku", "小田急・JR登戸駅から徒歩8分",
              "8 min walk from Noborito Station (Odakyu, JR)", "35.617700", "139.562700", False, False, True, 16),
    VenueSpec("菅こども文化センター", "Suge Community Centre", "community", TAMA, "214-0001", "川崎市多摩区菅3-8-12",
              "3-8-12 Suge, Tama-ku", "京王稲田堤駅から徒歩7分", "7 min walk from Keio Inadazutsumi Station",
              "35.636100", "139.532800", True, False, False, 12),
    VenueSpec("宮前市民館", "Miyamae Civic Hall", "civic", MIYAMAE, "216-0006", "川崎市宮前区宮前平2-20-4",
              "2-20-4 Miyamaedaira, Miyamae-ku", "東急宮前平駅から徒歩10分",
              "10 min walk from Tokyu Miyamaedaira Station", "35.585000", "139.581400", True, True, True, 20),
    VenueSpec("宮前区役所", "Miyamae Ward Office", "ward_office", MIYAMAE, "216-8570", "川崎市宮前区宮前平2-20-5",
              "2-20-5 Miyamaedaira, Miyamae-ku", "東急宮前平駅から徒歩10分",
              "10 min walk from Tokyu Miyamaedaira Station", "35.585300", "139.581800", True, True, True, 20,
              MIYAMAE_OFFICE),
    VenueSpec("鷺沼いこいの家", "Saginuma Seniors' Centre", "community", MIYAMAE, "216-0004", "川崎市宮前区鷺沼3-1-22",
              "3-1-22 Saginuma, Miyamae-ku", "東急鷺沼駅から徒歩6分", "6 min walk from Tokyu Saginuma Station",
              "35.579100", "139.573200", True, False, True, 12),
    VenueSpec("麻生市民館", "Asao Civic Hall", "civic", ASAO, "215-0004", "川崎市麻生区万福寺1-5-2",
              "1-5-2 Manpukuji, Asao-ku", "小田急新百合ヶ丘駅から徒歩3分",
              "3 min walk from Odakyu Shin-Yurigaoka Station", "35.603100", "139.508400", True, False, True, 20),
    VenueSpec("柿生いこいの家", "Kakio Seniors' Centre", "community", ASAO, "215-0021", "川崎市麻生区上麻生5-40-7",
              "5-40-7 Kamiasao, Asao-ku", "小田急柿生駅から徒歩5分", "5 min walk from Odakyu Kakio Station",
              "35.582900", "139.505100", False, False, True, 12),
    VenueSpec("はるひ野こども文化センター", "Haruhino Community Centre", "community", ASAO, "215-0036",
              "川崎市麻生区はるひ野5-8-3", "5-8-3 Haruhino, Asao-ku", "小田急はるひ野駅から徒歩4分",
              "4 min walk from Odakyu Haruhino Station", "35.616900", "139.482600", True, True, False, 14),
]

# Session capacity by kind of venue (capped by the room), start times (morning, afternoon).
SESSION_CAPACITIES = {"civic": (16, 20, 20, 24), "library": (12, 16, 16), "community": (10, 12, 12),
                      "ward_office": (16, 20), "company": (16, 20), "shop": (3, 4, 4, 5)}
START_TIMES = {"shop": (time(11, 0), time(15, 0)), "community": (time(10, 0), time(13, 30))}
DEFAULT_START_TIMES = (time(10, 0), time(14, 0))

TOPICS = [
    ("基本操作", "Basics", "basics"), ("LINE・連絡", "LINE and messaging", "messaging"),
    ("マイナンバーカード・行政手続", "My Number Card and online applications", "mynumber"),
    ("地図・おでかけ", "Maps and going out", "maps"), ("安全・詐欺対策", "Staying safe", "safety"),
    ("インターネット・検索", "The internet and searching", "internet"),
    ("医療・健康", "Health and medical care", "health"), ("キャッシュレス決済", "Cashless payment", "cashless"),
    ("写真・カメラ", "Photos and the camera", "photos"),
]


class CourseSpec(NamedTuple):
    slug: str
    owner: str | None  # partner name; None for a city course (which any partner may run)
    title: str
    title_kana: str
    title_en: str
    summary: str
    summary_en: str
    level: str
    device: str
    topics: tuple[str, ...]
    skills: tuple[int, ...]  # can-do items taught (PRODUCT.md, 1–12)
    what_to_bring: str
    what_to_bring_en: str
    popularity: float = 5
    months: tuple[int, ...] = ()  # when it runs; empty: all year
    at_shops: bool = False  # a city course carrier shops also run


AUDIENCE = {
    CoursePage.Level.BEGINNER: ("スマートフォンに不慣れな方、シニアの方", "People new to smartphones, older residents"),
    CoursePage.Level.INTERMEDIATE: ("基本操作ができ、もう一歩使いこなしたい方",
                                    "People who know the basics and want to do more"),
}
BRING_PHONE = ("お持ちのスマートフォン", "Your smartphone")
Device, Level = CoursePage.Device, CoursePage.Level
COURSES = [
    CourseSpec("smartphone-basics-android", None, "はじめてのスマホ教室（Android）",
               "ハジメテノスマホキョウシツ アンドロイド", "Smartphone basics (Android)",
               "電源の入れ方、文字の大きさの変え方、アプリの開き方から、ゆっくり学びます。",
               "Switching on, making text bigger and opening apps, at a gentle pace.",
               Level.BEGINNER, Device.ANDROID, ("basics",), (1, 2, 3, 4), "お持ちのスマートフォン（貸出機もあります）",
               "Your smartphone (loan phones at some venues)", 10, at_shops=True),
    CourseSpec("smartphone-basics-iphone", None, "はじめてのスマホ教室（iPhone）",
               "ハジメテノスマホキョウシツ アイフォーン", "Smartphone basics (iPhone)",
               "iPhoneの基本操作を、講師とサポーターが一人ひとりに寄り添ってお伝えします。",
               "The basics of the iPhone, with a helper at your side.",
               Level.BEGINNER, Device.IPHONE, ("basics",), (1, 2, 3, 4), "お持ちのiPhone", "Your iPhone", 9,
               at_shops=True),
    CourseSpec("calls-and-camera", None, "電話とカメラを使いこなそう", "デンワトカメラヲツカイコナソウ",
               "Calls and the camera", "電話のかけ方・受け方と、写真の撮り方・見返し方を練習します。",
               "Practise making and taking calls, and taking and finding photos.",
               Level.BEGINNER, Device.ANY, ("basics", "photos"), (3, 5), *BRING_PHONE, 6, at_shops=True),
    CourseSpec("internet-search", None, "はじめてのインターネット検索", "ハジメテノインターネットケンサク",
               "Searching the internet", "Wi-Fiへのつなぎ方と、調べた情報が信頼できるかの見分け方を学びます。",
               "Connect to Wi-Fi, search the web and judge whether what you find is reliable.",
               Level.BEGINNER, Device.ANY, ("internet",), (4, 7), *BRING_PHONE, 5),
    CourseSpec("smartphone-next-steps", None, "スマホ活用ステップアップ", "スマホカツヨウステップアップ",
               "Smartphone next steps", "設定の見直し、パスワードの管理、困ったときの対処法を身につけます。",
               "Tidy your settings, look after your passwords and know what to do when stuck.",
               Level.INTERMEDIATE, Device.ANY, ("basics", "safety"), (2, 4, 10, 12), *BRING_PHONE, 4),
    CourseSpec("mynumber-online", None, "マイナンバーカードでオンライン手続", "マイナンバーカードデオンラインテツヅキ",
               "Online applications with your My Number Card",
               "マイナポータルへのログインや、健康保険証としての利用登録を体験します。",
               "Log in to Mynaportal and register your card as a health-insurance card.",
               Level.BEGINNER, Device.ANY, ("mynumber",), (9, 10),
               "マイナンバーカード、暗証番号（4桁）、スマートフォン",
               "Your My Number Card, its 4-digit PIN and your smartphone", 8),
    CourseSpec("mynaportal-health-insurance", None, "マイナ保険証とマイナポータル",
               "マイナホケンショウトマイナポータル",
               "My Number health-insurance card and Mynaportal",
               "マイナ保険証の使い方と、マイナポータルで薬や健診の情報を見る方法を学びます。",
               "Use your card as a health-insurance card and see your medicines and check-ups on Mynaportal.",
               Level.BEGINNER, Device.ANY, ("mynumber", "health"), (9,),
               "マイナンバーカード、暗証番号（4桁）、スマートフォン",
               "Your My Number Card, its 4-digit PIN and your smartphone", 6),
    CourseSpec("line-family", NPO_DS, "LINEで家族とつながろう", "ラインデカゾクトツナガロウ",
               "Keep in touch with family on LINE", "LINEでメッセージや写真を送る、ビデオ通話をする方法を練習します。",
               "Practise sending messages and photos and making video calls on LINE.",
               Level.BEGINNER, Device.ANY, ("messaging",), (5, 6), "LINEが入ったスマートフォン",
               "A smartphone with LINE", 9),
    CourseSpec("line-next-steps", NPO_DS, "LINEをもっと便利に", "ラインヲモットベンリニ", "Getting more out of LINE",
               "グループでのやりとり、写真のアルバム、知らない人からのメッセージへの対処を学びます。",
               "Group chats, shared photo albums and what to do about messages from strangers.",
               Level.INTERMEDIATE, Device.ANY, ("messaging", "safety"), (6, 10, 11), "LINEが入ったスマートフォン",
               "A smartphone with LINE", 4),
    CourseSpec("video-calls", ASAO_SALON, "ビデオ通話で顔を見て話そう", "ビデオツウワデカオヲミテハナソウ",
               "Video calls with family and friends", "離れて暮らす家族や友人と、顔を見ながら話す方法を練習します。",
               "Practise seeing and talking to family and friends who live far away.",
               Level.BEGINNER, Device.ANY, ("messaging",), (5, 6), *BRING_PHONE, 5),
    CourseSpec("photos-album", NAKAHARA_NPO, "スマホで写真を楽しもう", "スマホデシャシンヲタノシモウ",
               "Enjoying photos on your smartphone", "上手な撮り方、写真の整理、家族への送り方を学びます。",
               "Take better photos, keep them in order and send them to family.",
               Level.BEGINNER, Device.ANY, ("photos", "messaging"), (5, 6), *BRING_PHONE, 5),
    CourseSpec("maps-outing", MIRAI, "地図アプリでおでかけ", "チズアプリデオデカケ", "Going out with a map app",
               "地図アプリで目的地までの道順や電車の時間を調べる方法を学びます。",
               "Find a route and train times with a map app.", Level.BEGINNER, Device.ANY, ("maps",), (7, 8),
               *BRING_PHONE, 5),
    CourseSpec("e-tax", MIRAI, "スマホで確定申告（e-Tax）", "スマホデカクテイシンコク イータックス",
               "Filing your tax return on a smartphone (e-Tax)",
               "マイナンバーカードを使って、スマートフォンから確定申告をする流れを体験します。",
               "Walk through filing a tax return from your smartphone with your My Number Card.",
               Level.INTERMEDIATE, Device.ANY, ("mynumber",), (9, 10), "マイナンバーカード、暗証番号、スマートフォン",
               "Your My Number Card, its PINs and your smartphone", 40, months=(1, 2, 3)),
    CourseSpec("online-medical", TECHLAB, "オンライン診療・病院予約をスマホで",
               "オンラインシンリョウ ビョウインヨヤクヲスマホデ",
               "Online medical appointments and consultations",
               "病院の予約アプリやオンライン診療の受け方を、体験用の画面で練習します。",
               "Practise booking a doctor and joining an online consultation, on a demo screen.",
               Level.INTERMEDIATE, Device.ANY, ("health",), (3, 7, 12), "お持ちのスマートフォン、お薬手帳（あれば）",
               "Your smartphone and medicine notebook (if you have one)", 5),
    CourseSpec("cashless-payment", SHOP_MIZONOKUCHI, "はじめてのキャッシュレス決済", "ハジメテノキャッシュレスケッサイ",
               "Getting started with cashless payment",
               "QRコード決済のしくみ、チャージの方法、安全な使い方を体験します。",
               "How QR-code payment works, topping up, and paying safely.",
               Level.BEGINNER, Device.ANY, ("cashless", "safety"), (3, 10, 11), *BRING_PHONE, 6),
    CourseSpec("scam-safety", SHOP_KOSUGI, "だまされない！スマホ安全教室", "ダマサレナイスマホアンゼンキョウシツ",
               "Staying safe: scams on your smartphone",
               "不審なSMSやメールの見分け方、パスワードの守り方を、実例で学びます。",
               "Spot scam SMS and e-mails and keep your passwords safe, with real examples.",
               Level.BEGINNER, Device.ANY, ("safety",), (10, 11, 12), *BRING_PHONE, 6),
]

PAST_CANCELLATIONS = ["台風の接近に伴い、安全のため中止しました。", "講師の体調不良のため中止しました。",
                      "会場の空調設備の故障のため中止しました。"]
UPCOMING_CANCELLATION = "会場の設備点検が入ったため中止します。別の日程へのお申込をお待ちしています。"

# --- Sizes -------------------------------------------------------------------------------------------------

HISTORY_SESSIONS = 245  # from the start of the previous fiscal year up to yesterday
UPCOMING_SESSIONS = 58  # over the next two months (plus today's two classes on a weekday)
UPCOMING_DAYS = 61
NEARLY_FULL_SESSIONS = 5
PEOPLE = 2300  # residents who might come; those never drawn are not stored

# --- Can-do self-assessments and support-desk consultations ----------------------------------------------

ASSESSMENT_SEED, CONSULTATION_SEED = SEED + 1, SEED + 2  # their own randomness: sessions stay as they were
PRE_SHARE = 0.6  # attended registrations with a "before" self-assessment
POST_SHARE = 0.45  # … with an "after" one, most of them also with a "before":
POST_AFTER_PRE = 0.6
POST_WITHOUT_PRE = (POST_SHARE - PRE_SHARE * POST_AFTER_PRE) / (1 - PRE_SHARE)
# How able people feel before a class, by age band (0 can't … 3 could teach), and how hard each item is.
ABILITY = {"u20": 2.4, "20-29": 2.4, "30-39": 2.3, "40-49": 2.1, "50-59": 1.8, "60-64": 1.5, "65-69": 1.3,
           "70-74": 1.1, "75-79": 0.9, "80-84": 0.7, "85+": 0.5, "": 1.0}
ITEM_EASE = {1: 0.6, 2: 0.2, 3: 0.3, 4: -0.1, 5: 0.5, 6: 0.0, 7: -0.4, 8: -0.2, 9: -0.7, 10: -0.2, 11: -0.3,
             12: -0.3}
PRE_SOURCES = (("paper", 45), ("tablet", 40), ("online", 15))
POST_SOURCES = (("tablet", 50), ("paper", 35), ("online", 15))

CONSULTATIONS = 1500
CONSULTATION_DAYS = 608  # about 20 months back from today
CONSULTATION_AGES = {"u20": 0.3, "20-29": 0.8, "30-39": 1.2, "40-49": 2.5, "50-59": 4.5, "60-64": 6, "65-69": 13,
                     "70-74": 21, "75-79": 21, "80-84": 15, "85+": 8, "": 4}
# By the topics' English names (outreach migration 0004); topics added since weigh 3.
# Which course topics answer each support-desk topic (by its English name): the planning view's consultations per
# topic. Staff edit this on the consultation topics' snippet; the demo sets it once.
CONSULTATION_COURSE_TOPICS = {
    "Basic smartphone use": ["basics"], "Internet and Wi-Fi": ["internet"], "LINE and messaging": ["messaging"],
    "My Number Card": ["mynumber"], "Mynaportal and health-insurance card": ["mynumber", "health"],
    "Online applications to the city": ["mynumber"], "Cashless payment": ["cashless"],
    "Online medical appointments": ["health"], "Maps and transport": ["maps"], "Scams and security": ["safety"]}
CONSULTATION_TOPICS = {"Basic smartphone use": 26, "Internet and Wi-Fi": 10, "LINE and messaging": 16,
                       "My Number Card": 18, "Mynaportal and health-insurance card": 11,
                       "Online applications to the city": 6, "Cashless payment": 7, "Online medical appointments": 4,
                       "Maps and transport": 4, "Scams and security": 9, "Other": 5}
CONSULTATION_PLACES = (("ward_office", 68), ("community_centre", 22), ("outreach_event", 10))
CONSULTATION_MINUTES = (10, 15, 15, 15, 20, 20, 25, 30, 30, 40, 45, 60)

# --- People ------------------------------------------------------------------------------------------------



def _names(text: str) -> list[tuple[str, str, str]]:
    """"佐藤 サトウ sato, 鈴木 スズキ suzuki" → [(kanji, katakana reading, romaji), …]."""
    return [tuple(item.split()) for item in text.split(",")]


# Family names, most common first.
FAMILY_NAMES = _names(
    "佐藤 サトウ sato, 鈴木 スズキ suzuki, 高橋 タカハシ takahashi, 田中 タナカ tanaka, 伊藤 イトウ ito,"
    "渡辺 ワタナベ watanabe, 山本 ヤマモト yamamoto, 中村 ナカムラ nakamura, 小林 コバヤシ kobayashi,"
    "加藤 カトウ kato, 吉田 ヨシダ yoshida, 山田 ヤマダ yamada, 佐々木 ササキ sasaki, 山口 ヤマグチ yamaguchi,"
    "松本 マツモト matsumoto, 井上 イノウエ inoue, 木村 キムラ kimura, 林 ハヤシ hayashi, 斎藤 サイトウ saito,"
    "清水 シミズ shimizu, 山﨑 ヤマザキ yamazaki, 森 モリ mori, 池田 イケダ ikeda, 橋本 ハシモト hashimoto,"
    "阿部 アベ abe, 石川 イシカワ ishikawa, 山下 ヤマシタ yamashita, 中島 ナカジマ nakajima, 石井 イシイ ishii,"
    "小川 オガワ ogawa, 前田 マエダ maeda, 岡田 オカダ okada, 長谷川 ハセガワ hasegawa, 藤田 フジタ fujita,"
    "後藤 ゴトウ goto, 近藤 コンドウ kondo, 村上 ムラカミ murakami, 遠藤 エンドウ endo, 青木 アオキ aoki,"
    "坂本 サカモト sakamoto, 福田 フクダ fukuda, 太田 オオタ ota, 西村 ニシムラ nishimura, 藤井 フジイ fujii,"
    "金子 カネコ kaneko, 岡本 オカモト okamoto, 藤原 フジワラ fujiwara, 三浦 ミウラ miura, 中野 ナカノ nakano,"
    "原田 ハラダ harada")
# Given names by generation: people now 60 and over, and younger people (young participants, their children).
OLDER_WOMEN = _names(
    "和子 カズコ kazuko, 洋子 ヨウコ yoko, 幸子 サチコ sachiko, 節子 セツコ setsuko, 恵子 ケイコ keiko,"
    "京子 キョウコ kyoko, 美代子 ミヨコ miyoko, 久美子 クミコ kumiko, 悦子 エツコ etsuko, 弘子 ヒロコ hiroko,"
    "順子 ジュンコ junko, 照子 テルコ teruko, 信子 ノブコ nobuko, 文子 フミコ fumiko, 光子 ミツコ mitsuko,"
    "静江 シズエ shizue, 千代子 チヨコ chiyoko, 君子 キミコ kimiko, 道子 ミチコ michiko, 敏子 トシコ toshiko,"
    "孝子 タカコ takako, 栄子 エイコ eiko, 和代 カズヨ kazuyo, 美智子 ミチコ michiko, 典子 ノリコ noriko")
OLDER_MEN = _names(
    "弘 ヒロシ hiroshi, 清 キヨシ kiyoshi, 茂 シゲル shigeru, 勝 マサル masaru, 正 タダシ tadashi, 博 ヒロシ hiroshi,"
    "実 ミノル minoru, 進 ススム susumu, 勇 イサム isamu, 修 オサム osamu, 武 タケシ takeshi, 隆 タカシ takashi,"
    "豊 ユタカ yutaka, 昭 アキラ akira, 和夫 カズオ kazuo, 正男 マサオ masao, 幸雄 ユキオ yukio, 秀夫 ヒデオ hideo,"
    "義雄 ヨシオ yoshio, 健一 ケンイチ kenichi, 一郎 イチロウ ichiro, 俊夫 トシオ toshio, 功 イサオ isao")
YOUNGER_WOMEN = _names(
    "直美 ナオミ naomi, 真由美 マユミ mayumi, 美穂 ミホ miho, 智子 トモコ tomoko, 由美子 ユミコ yumiko,"
    "明美 アケミ akemi, 裕子 ユウコ yuko, 陽子 ヨウコ yoko, 愛 アイ ai, 彩 アヤ aya, 麻衣 マイ mai, 美咲 ミサキ misaki")
YOUNGER_MEN = _names(
    "健太 ケンタ kenta, 大輔 ダイスケ daisuke, 誠 マコト makoto, 拓也 タクヤ takuya, 達也 タツヤ tatsuya,"
    "浩二 コウジ koji, 直樹 ナオキ naoki, 和也 カズヤ kazuya, 翔太 ショウタ shota, 亮 リョウ ryo,"
    "剛 ツヨシ tsuyoshi, 智史 サトシ satoshi")

Band = Participant.AgeBand
# Who comes to the classes: mostly 65+, some in their fifties and early sixties, a few younger.
AGE_WEIGHTS = {Band.UNDER_20: 0.3, Band.AGE_20_29: 0.5, Band.AGE_30_39: 1, Band.AGE_40_49: 2, Band.AGE_50_59: 4,
               Band.AGE_60_64: 8, Band.AGE_65_69: 16, Band.AGE_70_74: 23, Band.AGE_75_79: 21, Band.AGE_80_84: 13,
               Band.AGE_85_PLUS: 6, Band.NOT_GIVEN: 2}
OLDER_BANDS = (Band.AGE_75_79, Band.AGE_80_84, Band.AGE_85_PLUS)
SENIOR_BANDS = (Band.AGE_65_69, Band.AGE_70_74, *OLDER_BANDS)
ACCESSIBILITY_NEEDS = ["補聴器を使用しています", "車いすで参加します", "大きな文字の資料を希望します",
                       "杖を使用しています"]
RELATIONSHIPS = [("娘", 40), ("息子", 26), ("孫", 10), ("妻", 8), ("夫", 6), ("息子の妻", 7), ("姪", 3)]

BookedBy, Channel, Status = Registration.BookedBy, Registration.Channel, Registration.Status


# --- Dates -------------------------------------------------------------------------------------------------


def fiscal_year_start(day: date) -> date:
    return date(day.year if day.month >= 4 else day.year - 1, 4, 1)


def _fixed_holiday(day: date) -> bool:
    fixed = {(1, 1), (2, 11), (2, 23), (3, 20), (4, 29), (5, 3), (5, 4), (5, 5), (7, 20), (8, 11), (9, 23),
             (11, 3), (11, 23)}
    monday_rules = {(1, 2), (7, 3), (9, 3), (10, 2)}  # (month, nth Monday): 成人の日, 海の日, 敬老の日, スポーツの日
    nth = (day.day - 1) // 7 + 1
    return (day.month, day.day) in fixed or (day.weekday() == 0 and (day.month, nth) in monday_rules)


def is_class_day(day: date) -> bool:
    """Weekdays that are not public holidays (roughly: equinoxes and substitute holidays approximated) nor the
    year-end closure of public facilities (29 December – 3 January)."""
    if day.weekday() >= 5 or (day.month, day.day) >= (12, 29) or (day.month, day.day) <= (1, 3):
        return False
    substitute = day.weekday() == 0 and _fixed_holiday(day - timedelta(days=1))
    return not (_fixed_holiday(day) or substitute)


# --- Plans -------------------------------------------------------------------------------------------------


@dataclass
class Person:
    """A resident who might come to classes, before they are stored."""

    index: int
    details: services.ParticipantDetails
    keenness: float  # relative chance of being drawn for a class: repeat participants have more
    habit: str  # how they usually book: a Registration.BookedBy value
    booker: services.BookerDetails | None = None  # the family member who books for them
    spouse: "Person | None" = None
    record: Participant | None = None  # once stored (history)
    days: set = field(default_factory=set)
    courses: set = field(default_factory=set)

    @property
    def has_contact(self) -> bool:
        return bool(self.details.email or self.details.phone)


@dataclass
class Plan:
    """One session to create, with the seats it will have taken."""

    course: CoursePage
    spec: CourseSpec
    organiser: Partner
    venue: Venue
    venue_kind: str
    day: date
    period: int  # 0 morning, 1 afternoon
    capacity: int
    bookings: int = 0  # registrations that will hold a seat or wait (cancellations come on top)
    waiting: int = 0  # past sessions that were full: people left on the waiting list
    cancel_reason: str = ""
    notes: str = ""
    notes_en: str = ""
    session: Session | None = None
    rng: random.Random | None = None  # this session's own randomness: what happens in one never shifts another


class Command(BaseCommand):
    help = ("Load deterministic demo data for Kawasaki (partners, venues, courses, ~300 sessions, ~4,000 "
            "registrations, demo logins). Idempotent.")

    def handle(self, *args, **options):
        started = clock.monotonic()
        # Demo bookings go through the services, which would queue a message to every made-up resident: no outbox.
        with transaction.atomic(), outbox.suppressed():
            site = ensure_site()
            seeded = DemoSeeder().run(site)
        elapsed = clock.monotonic() - started
        participants = Participant.objects.count()
        seniors = Participant.objects.filter(age_band__in=SENIOR_BANDS).count()
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready in {elapsed:.1f} s: {Partner.objects.count()} partners, {Venue.objects.count()} "
            f"venues, {CoursePage.objects.count()} courses, {Session.objects.count()} sessions, "
            f"{Registration.objects.count()} registrations, {participants} participants "
            f"({seniors * 100 // max(participants, 1)}% aged 65+), {SelfAssessment.objects.count()} "
            f"self-assessments, {Consultation.objects.count()} support-desk consultations."))
        if not seeded:
            self.stdout.write("The database already had sessions: sessions and registrations were left as they "
                              "are (seed an empty database for the full demo).")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for user in DEMO_USERS:
            partner = f", {user.partner}" if user.partner else ""
            self.stdout.write(f"  {user.username:16} {user.label}{partner}")


class DemoSeeder:
    """Builds the demo data set. Every random choice comes from `rng` (seeded) or a session's own generator."""

    def __init__(self):
        self.rng = random.Random(SEED)
        self.tz = timezone.get_current_timezone()
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)
        self.busy = set()  # (venue id, day, period) already taken
        self.emails, self.phones = set(), set()  # contact details handed out, each to one person only

    def run(self, site) -> bool:
        """Create whatever is missing. Returns whether sessions and registrations were seeded."""
        self.site_settings(site)
        self.wards = self.load_wards()
        self.load_reference_data()
        self.partners = self.ensure_partners()
        self.users = self.ensure_users()
        self.venues = self.ensure_venues()
        self.courses = self.ensure_courses()
        seeded = self.seed_sessions()
        self.seed_self_assessments()
        self.map_consultation_topics()
        self.seed_consultations()
        return seeded

    def seed_sessions(self) -> bool:
        if Session.objects.exists():
            return False
        self.partner_venues = {
            (spec.name, code): [(venue, v.kind) for venue, v in self.venues.values() if v.ward == code and (
                v.owner == spec.name or (v.owner is None and code in spec.area and v.kind in spec.venue_kinds))]
            for spec in PARTNERS for code in ALL_WARDS}
        self.ward_codes = {ward.pk: code for code, ward in self.wards.items()}
        plans = self.plan_sessions()
        self.create_sessions(plans)
        self.people = self.make_people(PEOPLE)
        self.person_pools()
        past = [p for p in plans if p.session.starts_at <= self.now]
        upcoming = [p for p in plans if p.session.starts_at > self.now]
        self.record_history(past)
        self.book_upcoming(upcoming)
        return True

    # --- Reference data ------------------------------------------------------------------------------------

    def site_settings(self, site):
        settings = SiteSettings.for_site(site)
        if not settings.phone_number:
            settings.phone_number = "044-200-0000"
            settings.phone_hours = "平日 9:00〜17:00"
            settings.phone_hours_en = "Weekdays 9:00–17:00"
            settings.save()

    def load_reference_data(self):
        """The shipped population, internet-usage and KPI figures, for each table that is still empty (figures a
        city officer has imported since are left as they are)."""
        files = {kind: path for kind, path in reference_data.DEFAULT_FILES.items()
                 if not reference_data.MODELS[kind].objects.exists()}
        if files:
            try:
                reference_data.load_defaults(files=files)
            except reference_data.ReferenceDataError as error:
                raise CommandError("\n".join(error.messages)) from error

    def load_wards(self) -> dict[str, Ward]:
        wards = {ward.code: ward for ward in Ward.objects.all()}
        missing = [code for code in ALL_WARDS if code not in wards]
        if missing:
            raise CommandError("The demo data is Kawasaki's, but these wards are not loaded: "
                               f"{', '.join(missing)}. Load the default municipality data first.")
        return wards

    def ensure_partners(self) -> dict[str, Partner]:
        partners = {}
        for spec in PARTNERS:
            partners[spec.name] = Partner.objects.filter(name=spec.name).first() or create_partner(
                name=spec.name, name_en=spec.name_en, kind=spec.kind, contact_name=spec.contact_name,
                email=spec.email, phone=spec.phone)
        return partners

    def ensure_users(self) -> dict[str, object]:
        User = get_user_model()
        users = {}
        password = None
        for spec in DEMO_USERS:
            user = User.objects.filter(username=spec.username).first()
            if user is None:
                password = password or make_password(DEMO_PASSWORD)  # hashing is slow on purpose: do it once
                user = User.objects.create(
                    username=spec.username, first_name=spec.label, email=f"{spec.username}@example.jp",
                    password=password, is_staff=True, is_superuser=spec.superuser)
            # The groups come from a data migration; get_or_create keeps this working on a database without them.
            group, _created = Group.objects.get_or_create(name=spec.group)
            if not user.groups.filter(pk=group.pk).exists():
                user.groups.add(group)
            if spec.partner:
                partner = self.partners[spec.partner]
                if not PartnerMembership.objects.filter(partner=partner, user=user).exists():
                    add_membership(partner=partner, user=user, role=spec.role)
            users[spec.username] = user
        return users

    def ensure_venues(self) -> dict[str, tuple[Venue, VenueSpec]]:
        venues = {}
        for spec in VENUES:
            venue = Venue.objects.filter(name=spec.name).order_by("pk").first()
            if venue is None:
                venue = Venue.objects.create(
                    name=spec.name, name_en=spec.name_en, ward=self.wards[spec.ward], postal_code=spec.postal_code,
                    address=spec.address, address_en=spec.address_en, access=spec.access, access_en=spec.access_en,
                    latitude=Decimal(spec.latitude), longitude=Decimal(spec.longitude), step_free=spec.step_free,
                    hearing_loop=spec.hearing_loop, loaner_devices=spec.loaner_devices, capacity=spec.capacity,
                    partner=self.partners[spec.owner] if spec.owner else None)
            venues[spec.name] = (venue, spec)
        return venues

    def ensure_courses(self) -> dict[str, tuple[CoursePage, CourseSpec]]:
        topics = {}
        for name, name_en, slug in TOPICS:
            topics[slug] = (Topic.objects.filter(slug=slug).first()
                            or Topic.objects.filter(name=name).first()
                            or Topic.objects.create(slug=slug, name=name, name_en=name_en))
        skills = {item.number: item for item in SkillItem.objects.all()}
        courses = {}
        for spec in COURSES:
            course = CoursePage.objects.filter(slug=spec.slug).first()
            if course is None:
                audience, audience_en = AUDIENCE[spec.level]
                course = CoursePage(
                    title=spec.title, slug=spec.slug, title_kana=spec.title_kana, title_en=spec.title_en,
                    summary=spec.summary, summary_en=spec.summary_en, level=spec.level, device=spec.device,
                    what_to_bring=spec.what_to_bring, what_to_bring_en=spec.what_to_bring_en,
                    target_audience=audience, target_audience_en=audience_en)
                course.topics = [topics[slug] for slug in spec.topics]
                course.skills = [skills[number] for number in spec.skills if number in skills]
                course_group_for(self.partners[spec.owner] if spec.owner else None).add_child(instance=course)
                course.save_revision().publish()
            courses[spec.slug] = (course, spec)
        return courses

    # --- Sessions ------------------------------------------------------------------------------------------

    def plan_sessions(self) -> list[Plan]:
        """History since the start of the previous fiscal year (busier this year than last), today's classes,
        and the next two months, on class days only, mornings and afternoons, at most one class per venue at a
        time."""
        rng = self.rng
        this_year = fiscal_year_start(self.today)
        first = date(this_year.year - 1, 4, 1)
        history_days = [first + timedelta(days=n) for n in range((self.today - first).days)]
        upcoming_days = [self.today + timedelta(days=n) for n in range(1, UPCOMING_DAYS + 1)]
        plans = self.plan_phase(history_days, HISTORY_SESSIONS, growth=lambda day: 1.6 if day >= this_year else 1)
        if is_class_day(self.today):
            plans += [plan for plan in (self.plan_slot(self.today, period) for period in (0, 1)) if plan]
        upcoming = self.plan_phase(upcoming_days, UPCOMING_SESSIONS)
        plans += upcoming
        for plan in plans:
            plan.rng = random.Random(rng.getrandbits(64))
            plan.capacity = min(plan.venue.capacity, plan.rng.choice(SESSION_CAPACITIES[plan.venue_kind]))
            plan.bookings, plan.waiting = self.bookings_for(plan)

        # What happens to them: a few cancellations, one class full with a waiting list, some nearly full.
        past = [p for p in plans if p.day < self.today and p.venue_kind != "shop"]
        for plan, reason in zip(rng.sample(past, len(PAST_CANCELLATIONS)), PAST_CANCELLATIONS, strict=True):
            plan.cancel_reason, plan.waiting = reason, 0
        soon = [p for p in upcoming if p.venue_kind != "shop" and 5 <= (p.day - self.today).days <= 30]
        full, cancelled, *nearly_full = rng.sample(soon, 2 + NEARLY_FULL_SESSIONS)
        full.notes, full.notes_en = FULL_SESSION_NOTE, FULL_SESSION_NOTE_EN
        full.bookings = full.capacity + 5  # one of them cancels later and the first on the waiting list moves up
        cancelled.cancel_reason = UPCOMING_CANCELLATION
        for plan in nearly_full:
            plan.bookings = plan.capacity - rng.choice((1, 2))
        return plans

    def plan_phase(self, days: list[date], count: int, growth=lambda day: 1) -> list[Plan]:
        """`count` classes over `days`: every course that runs in the season at least once, the rest by where
        people live (wards by population) and who runs classes there."""
        rng = self.rng
        slots = [(day, period, lane) for day in days if is_class_day(day) for period in (0, 1) for lane in range(3)]
        # Weighted sampling without replacement (Efraimidis–Spirakis): busier days where growth is higher.
        keyed = sorted(((rng.random() ** (1 / growth(day)), (day, period)) for day, period, _lane in slots),
                       reverse=True)
        chosen = sorted(slot for _key, slot in keyed[:count])
        plans, free = [], list(range(len(chosen)))
        for course, spec in self.courses.values():
            in_season = [i for i in free if not spec.months or chosen[i][0].month in spec.months]
            if in_season:
                i = rng.choice(in_season)
                free.remove(i)
                plans.append(self.plan_slot(*chosen[i], course=(course, spec)))
        plans += [self.plan_slot(*chosen[i]) for i in free]
        return sorted((p for p in plans if p is not None), key=lambda p: (p.day, p.period, p.venue.name))

    def plan_slot(self, day: date, period: int, course=None) -> Plan | None:
        rng = self.rng
        for _attempt in range(30):
            if course is None:
                ward = rng.choices(ALL_WARDS, [WARD_POPULATION[w] for w in ALL_WARDS])[0]
                runners = [(p, spec.activity) for p, spec in self.runners() if self.venues_of(p, ward)]
                partner = rng.choices(*zip(*runners, strict=True))[0]
                candidates = self.courses_for(partner, day)
                if not candidates:
                    continue
                chosen = rng.choices([c for c, _w in candidates], [w for _c, w in candidates])[0]
            else:
                chosen = course
                owner = chosen[1].owner
                runners = [(p, spec.activity) for p, spec in self.runners()
                           if (owner is None and (spec.kind != Kind.CARRIER_SHOP or chosen[1].at_shops))
                           or p.name == owner]
                partner = rng.choices(*zip(*runners, strict=True))[0]
                ward = rng.choice([w for w in ALL_WARDS if self.venues_of(partner, w)])
            venue, kind = rng.choice(self.venues_of(partner, ward))
            if (venue.pk, day, period) in self.busy:
                continue
            self.busy.add((venue.pk, day, period))
            course_page, spec = chosen
            return Plan(course=course_page, spec=spec, organiser=partner, venue=venue, venue_kind=kind, day=day,
                        period=period, capacity=0)
        return None

    def runners(self):
        return [(self.partners[spec.name], spec) for spec in PARTNERS]

    def venues_of(self, partner: Partner, ward: str) -> list[tuple[Venue, str]]:
        """Where a partner holds classes in a ward: its own venues, and the city venues of its area."""
        return self.partner_venues[(partner.name, ward)]

    def courses_for(self, partner: Partner, day: date) -> list[tuple[tuple[CoursePage, CourseSpec], float]]:
        """A partner runs its own courses (mostly) and city courses; a carrier shop only the city's short ones."""
        is_shop = partner.kind == Kind.CARRIER_SHOP
        candidates = []
        for course, spec in self.courses.values():
            if spec.months and day.month not in spec.months:
                continue
            if spec.owner == partner.name:
                candidates.append(((course, spec), spec.popularity * 4))
            elif spec.owner is None and (spec.at_shops or not is_shop):
                candidates.append(((course, spec), spec.popularity))
        return candidates

    def bookings_for(self, plan: Plan) -> tuple[int, int]:
        """How many people book (and, for a past class that filled up, how many were left waiting)."""
        rng = plan.rng
        if plan.venue_kind == "shop":
            return min(plan.capacity, rng.choice((1, 1, 2, 2, 2, 3))), 0
        if plan.day < self.today:
            fill = min(1.0, rng.betavariate(6, 1.2) * plan.spec.popularity / 8 + 0.25)
            bookings = max(3, round(plan.capacity * fill))
            return bookings, rng.choice((0, 0, 0, 1, 2)) if bookings >= plan.capacity else 0
        ahead = (plan.day - self.today).days
        fill = 0.95 - 0.65 * ahead / UPCOMING_DAYS + rng.uniform(-0.15, 0.15)
        return max(1, min(plan.capacity - 3, round(plan.capacity * fill))), 0

    def create_sessions(self, plans: list[Plan]):
        for plan in plans:
            start_times = START_TIMES.get(plan.venue_kind, DEFAULT_START_TIMES)
            starts_at = datetime.combine(plan.day, start_times[plan.period], tzinfo=self.tz)
            minutes = 60 if plan.venue_kind == "shop" else 120 if plan.period == 0 else 90
            cancelled = bool(plan.cancel_reason) and plan.day < self.today  # upcoming: called off later
            published = min(starts_at - timedelta(days=42), self.now)  # about six weeks ahead
            plan.session = Session(
                course=plan.course, organiser=plan.organiser, venue=plan.venue, starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=minutes), capacity=plan.capacity,
                status=Session.Status.CANCELLED if cancelled else Session.Status.SCHEDULED,
                cancellation_reason=plan.cancel_reason if cancelled else "", notes=plan.notes, notes_en=plan.notes_en,
                created_at=published, updated_at=published)
        _bulk_create_keeping_timestamps(Session, [plan.session for plan in plans])

    # --- People --------------------------------------------------------------------------------------------

    def make_people(self, count: int) -> list[Person]:
        rng = self.rng
        bands, band_weights = zip(*AGE_WEIGHTS.items(), strict=True)
        family_weights = [1 / (rank + 4) for rank in range(len(FAMILY_NAMES))]
        people = []
        while len(people) < count:
            ward = rng.choices(ALL_WARDS, [WARD_POPULATION[w] for w in ALL_WARDS])[0]
            band = rng.choices(bands, band_weights)[0]
            family = rng.choices(FAMILY_NAMES, family_weights)[0]
            female = rng.random() < 0.6
            person = self.make_person(len(people), family, band, female, ward)
            people.append(person)
            if band in SENIOR_BANDS and rng.random() < 0.08 and len(people) < count:
                # A married couple: often the same phone, and they tend to come together.
                spouse = self.make_person(len(people), family, band, not female, ward,
                                          shared_phone=person.details.phone if rng.random() < 0.5 else None)
                person.spouse, spouse.spouse = spouse, person
                spouse.keenness = person.keenness
                people.append(spouse)
        return people

    def make_person(self, index, family, band, female, ward, shared_phone=None) -> Person:
        rng = self.rng
        older = band in (*SENIOR_BANDS, Band.AGE_60_64, Band.NOT_GIVEN)
        given = rng.choice((OLDER_WOMEN if female else OLDER_MEN) if older else
                           (YOUNGER_WOMEN if female else YOUNGER_MEN))
        if band in OLDER_BANDS:
            device = rng.choices(["android", "iphone", "other_phone", "none"], [40, 28, 14, 18])[0]
            email_rate, staff_rate = 0.25, 0.35
        elif older:
            device = rng.choices(["android", "iphone", "other_phone", "none"], [45, 38, 8, 9])[0]
            email_rate, staff_rate = 0.45, 0.22
        else:
            device = rng.choices(["android", "iphone", "none"], [45, 50, 5])[0]
            email_rate, staff_rate = 0.8, 0.08
        email = self.unique_email(given[2], family[2]) if rng.random() < email_rate else ""
        phone = shared_phone or (self.unique_phone() if rng.random() < (0.4 if device == "none" else 0.9) else "")
        details = services.ParticipantDetails(
            name=f"{family[0]} {given[0]}", kana=f"{family[1]} {given[1]}", email=email, phone=phone,
            age_band=band, ward_id=self.wards[ward].pk, device=device,
            accessibility_needs=rng.choice(ACCESSIBILITY_NEEDS) if rng.random() < 0.07 else "", consent=True,
        ).normalized()
        person = Person(index=index, details=details, keenness=rng.lognormvariate(0, 1.0), habit=BookedBy.SELF)
        roll = rng.random()
        if not person.has_contact or roll < 0.12:
            person.habit = BookedBy.FAMILY
        elif roll < 0.12 + staff_rate:
            person.habit = BookedBy.STAFF
        if person.habit == BookedBy.FAMILY or rng.random() < 0.2:
            person.booker = self.make_booker(family, older)
        return person

    def make_booker(self, family, older) -> services.BookerDetails:
        rng = self.rng
        relationship = rng.choices(*zip(*RELATIONSHIPS, strict=True))[0]
        female = relationship in ("娘", "妻", "息子の妻", "姪") or (relationship == "孫" and rng.random() < 0.5)
        if relationship in ("妻", "夫"):
            given = rng.choice(OLDER_WOMEN if female else OLDER_MEN)
        else:
            given = rng.choice(YOUNGER_WOMEN if female else YOUNGER_MEN)
        booker_family = family if relationship != "娘" or rng.random() < 0.4 else rng.choice(FAMILY_NAMES)
        by_email = rng.random() < 0.6
        return services.BookerDetails(
            name=f"{booker_family[0]} {given[0]}", relationship=relationship,
            email=self.unique_email(given[2], booker_family[2]) if by_email else "",
            phone="" if by_email and rng.random() < 0.5 else self.unique_phone()).normalized()

    def unique_email(self, given: str, family: str) -> str:
        rng = self.rng
        while True:
            local = rng.choice([f"{given}.{family}", f"{family}.{given}", f"{given[0]}{family}", f"{given}{family[0]}"])
            email = f"{local}{rng.randint(1, 99)}@example.jp"
            if email not in self.emails:
                self.emails.add(email)
                return email

    def unique_phone(self) -> str:
        rng = self.rng
        while True:
            phone = f"{rng.choice(('090', '090', '080', '070'))}{rng.randint(0, 99_999_999):08d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    def person_pools(self):
        """Cumulative keenness weights, citywide and per ward, for drawing people quickly."""
        self.pools = {}
        for key in (None, *ALL_WARDS):
            members = [p for p in self.people
                       if key is None or p.details.ward_id == self.wards[key].pk]
            self.pools[key] = (members, list(itertools.accumulate(p.keenness for p in members)))

    def draw(self, plan: Plan, count: int) -> list[Person]:
        """People for a class: most from the venue's ward, some from elsewhere; the right phone for a
        phone-specific course; rarely the same course twice, never two classes on one day. Couples often come
        together. Today's rosters hold only people with contact details of their own."""
        rng = plan.rng
        ward = self.ward_codes[plan.venue.ward_id]
        device = plan.spec.device
        drawn, taken = [], set()
        for _attempt in range(count * 40):
            if len(drawn) >= count:
                break
            members, cumulative = self.pools[ward if rng.random() < 0.7 else None]
            person = members[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
            if (person.index in taken or plan.day in person.days
                    or (device != Device.ANY and person.details.device not in (device, "none"))
                    or (plan.day == self.today and not person.has_contact)
                    or (plan.spec.slug in person.courses and rng.random() < 0.9)):
                continue
            group = [person]
            spouse = person.spouse
            if (spouse and spouse.index not in taken and plan.day not in spouse.days and rng.random() < 0.5
                    and len(drawn) + 2 <= count and (plan.day != self.today or spouse.has_contact)):
                group.append(spouse)
            for member in group:
                taken.add(member.index)
                member.days.add(plan.day)
                member.courses.add(plan.spec.slug)
                drawn.append(member)
        return drawn

    def booking_method(self, plan: Plan, person: Person) -> tuple[str, str, services.BookerDetails | None]:
        """(booked_by, channel, booker): mostly the person's habit."""
        rng = plan.rng
        booked_by = person.habit
        if person.has_contact and rng.random() < 0.15:
            booked_by = rng.choice([BookedBy.SELF, BookedBy.STAFF] + ([BookedBy.FAMILY] if person.booker else []))
        if booked_by == BookedBy.FAMILY:
            return BookedBy.FAMILY, Channel.WEB if rng.random() < 0.65 else Channel.PHONE, person.booker
        return booked_by, Channel.PHONE if booked_by == BookedBy.STAFF else Channel.WEB, None

    # --- History -------------------------------------------------------------------------------------------

    def record_history(self, plans: list[Plan]):
        """Classes already held, written in bulk as an import would: attended or no-show (about 85:15), walk-ins,
        bookings cancelled beforehand, people left on a full class's waiting list; a cancelled class's bookings
        stay as they were when it was called off. Today's classes that have begun hold confirmed bookings, for
        the instructor to mark at the door."""
        registrations = []
        for plan in plans:
            rng, session = plan.rng, plan.session
            held = plan.day < self.today
            cancellations = sum(rng.random() < 0.06 for _i in range(plan.bookings)) if held else 0
            people = self.draw(plan, cancellations + plan.bookings + plan.waiting)
            for position, person in enumerate(people, start=1):
                booked_by, channel, booker = self.booking_method(plan, person)
                booker = booker or services.BookerDetails()
                registered = (session.starts_at - timedelta(days=rng.randint(1, 35))).replace(
                    hour=rng.randint(8, 20), minute=rng.randrange(0, 60, 5))
                registration = Registration(
                    session=session, participant=self.participant_record(person, registered), status=Status.CONFIRMED,
                    channel=channel, booked_by=booked_by, booker_name=booker.name,
                    booker_relationship=booker.relationship, booker_email=booker.email, booker_phone=booker.phone,
                    created_by=self.users["callcentre"] if booked_by == BookedBy.STAFF else None,
                    confirmed_at=registered, created_at=registered, updated_at=registered)
                if position <= cancellations:
                    registration.status = Status.CANCELLED
                    registration.cancelled_at = registration.updated_at = registered + (
                        session.starts_at - registered) * rng.uniform(0.2, 0.9)
                elif position > cancellations + plan.bookings:  # came too late: the class was full
                    registration.status = Status.WAITLISTED
                    registration.waitlist_position = position - cancellations - plan.bookings
                    registration.confirmed_at = None
                    registration.created_at = registration.updated_at = (
                        session.starts_at - timedelta(days=3, hours=-registration.waitlist_position))
                elif held and session.status == Session.Status.SCHEDULED:
                    registration.status = Status.ATTENDED if rng.random() < 0.85 else Status.NO_SHOW
                    registration.updated_at = session.ends_at
                    if registration.status == Status.ATTENDED and rng.random() < 0.04:  # came on the day
                        registration.channel, registration.booked_by = Channel.WALK_IN, BookedBy.STAFF
                        registration.booker_name = registration.booker_relationship = ""
                        registration.booker_email = registration.booker_phone = ""
                        registration.created_by = None
                        registration.confirmed_at = registration.created_at = session.starts_at
                registrations.append(registration)
        participants = [p.record for p in self.people if p.record is not None]
        _bulk_create_keeping_timestamps(Participant, participants)
        services.assign_references(registrations)  # distinct booking references: bulk_create cannot retry a row
        _bulk_create_keeping_timestamps(Registration, registrations)

    def participant_record(self, person: Person, when: datetime) -> Participant:
        """The person's participant record (in memory until the bulk insert), consenting at their first booking."""
        if person.record is None:
            d = person.details
            person.record = Participant(
                name=d.name, kana=d.kana, email=d.email, phone=d.phone, age_band=d.age_band, ward_id=d.ward_id,
                device=d.device, accessibility_needs=d.accessibility_needs, language=d.language,
                consent_policy_version=django_settings.DEKIRU_PRIVACY_POLICY_VERSION, consented_at=when,
                created_at=when, updated_at=when)
        return person.record

    # --- Upcoming ------------------------------------------------------------------------------------------

    def book_upcoming(self, plans: list[Plan]):
        """Bookings for classes still to come, through the registration service (a seat, or the waiting list);
        a few people cancel, one class is called off, and the full class loses a booking to its waiting list."""
        staff = self.users["callcentre"]
        for plan in plans:
            results = []
            for person in self.draw(plan, plan.bookings):
                booked_by, channel, booker = self.booking_method(plan, person)
                results.append(services.register(
                    session=plan.session, participant=person.details, channel=channel, booked_by=booked_by,
                    booker=booker, actor=staff if booked_by == BookedBy.STAFF else None))
            confirmed = [r.registration for r in results if r.registration.status == Status.CONFIRMED]
            if plan.notes == FULL_SESSION_NOTE:
                services.cancel_registration(registration=confirmed[2])
            elif plan.cancel_reason:
                services.cancel_session(session=plan.session, reason=plan.cancel_reason, actor=self.users["officer"])
            elif plan.session.starts_at - self.now > timedelta(days=1) and plan.bookings < plan.capacity - 2:
                for registration in confirmed:
                    if plan.rng.random() < 0.04:
                        services.cancel_registration(registration=registration)


    # --- Can-do self-assessments -------------------------------------------------------------------------------

    def seed_self_assessments(self):
        """Before and after self-assessments for the classes held: about 60% of attended registrations have a
        "before", about 45% an "after" (most of those both), on the course's can-do items (all twelve when it names
        none). People rate themselves lower the older they are; "after" tends higher on the items taught.
        Written in bulk, as typed in from paper or entered on the class tablet or online."""
        if SelfAssessment.objects.exists():
            return
        items = {item.number: item.pk for item in SkillItem.objects.all()}
        if not items:
            return
        rng = random.Random(ASSESSMENT_SEED)
        taught: dict[int, list[int]] = {}
        for course_id, number in CoursePage.skills.through.objects.values_list("coursepage_id", "skillitem__number"):
            taught.setdefault(course_id, []).append(number)
        attended = Registration.objects.filter(status=Status.ATTENDED).order_by("pk").values_list(
            "pk", "session__course_id", "participant__age_band", "session__starts_at", "session__ends_at")
        paper_clerk = self.users["callcentre"]
        assessments, answers = [], []
        for pk, course_id, band, starts_at, ends_at in attended:
            numbers = sorted(taught.get(course_id) or items)
            has_pre = rng.random() < PRE_SHARE
            has_post = rng.random() < (POST_AFTER_PRE if has_pre else POST_WITHOUT_PRE)
            if not (has_pre or has_post):
                continue
            before = {n: self.self_rating(rng, band, n) for n in numbers}
            for kind, wanted, sources in ((SelfAssessment.Kind.PRE, has_pre, PRE_SOURCES),
                                          (SelfAssessment.Kind.POST, has_post, POST_SOURCES)):
                if not wanted:
                    continue
                source = rng.choices(*zip(*sources, strict=True))[0]
                if kind == SelfAssessment.Kind.PRE:
                    scores = before
                    when = (starts_at - timedelta(days=rng.randint(1, 6)) if source == "online"
                            else starts_at + timedelta(minutes=rng.randint(2, 10)))
                else:
                    scores = {n: min(3, max(0, score + rng.choices((-1, 0, 1, 2), (2, 33, 55, 10))[0]))
                              for n, score in before.items()}
                    when = (min(ends_at + timedelta(hours=rng.randint(2, 72)), self.now) if source == "online"
                            else ends_at - timedelta(minutes=rng.randint(3, 10)))
                assessments.append(SelfAssessment(
                    registration_id=pk, kind=kind, source=source, submitted_at=when,
                    entered_by=paper_clerk if source == "paper" else None))
                answers.append(scores)
        SelfAssessment.objects.bulk_create(assessments, batch_size=1000)
        SkillScore.objects.bulk_create(
            [SkillScore(assessment_id=assessment.pk, item_id=items[number], score=score)
             for assessment, scores in zip(assessments, answers, strict=True) for number, score in scores.items()],
            batch_size=2000)

    @staticmethod
    def self_rating(rng: random.Random, band: str, number: int) -> int:
        return min(3, max(0, round(rng.gauss(ABILITY.get(band, 1.0) + ITEM_EASE.get(number, 0), 0.7))))

    # --- Support-desk consultations --------------------------------------------------------------------------

    def map_consultation_topics(self):
        """The course topics each consultation topic is demand for (CONSULTATION_COURSE_TOPICS), where staff have not
        mapped it yet."""
        topics = {topic.slug: topic for topic in Topic.objects.filter(
            slug__in={slug for slugs in CONSULTATION_COURSE_TOPICS.values() for slug in slugs})}
        for consultation_topic in ConsultationTopic.objects.filter(name_en__in=CONSULTATION_COURSE_TOPICS):
            if not consultation_topic.course_topics.exists():
                consultation_topic.course_topics.set([topics[slug] for slug in
                                                      CONSULTATION_COURSE_TOPICS[consultation_topic.name_en]
                                                      if slug in topics])

    def seed_consultations(self):
        """About 1,500 consultations at the ward offices' digital support desks over the last 20 months, busier
        lately: mostly people aged 65 and over, most solved on the spot, some sent to a class. Recorded by the
        call-centre demo login; written in bulk as an import would."""
        if Consultation.objects.exists():
            return
        topics = list(ConsultationTopic.objects.all())
        if not topics:
            return
        rng = random.Random(CONSULTATION_SEED)
        days = [self.today - timedelta(days=n) for n in range(CONSULTATION_DAYS)]
        open_days = [day for day in days if is_class_day(day)]
        day_weights = [1 + (day - days[-1]).days / CONSULTATION_DAYS for day in open_days]  # growing
        ward_codes = list(ALL_WARDS)
        ward_weights = [WARD_POPULATION[code] for code in ward_codes]
        bands, band_weights = zip(*CONSULTATION_AGES.items(), strict=True)
        topic_weights = [CONSULTATION_TOPICS.get(topic.name_en, 3) for topic in topics]
        places, place_weights = zip(*CONSULTATION_PLACES, strict=True)
        clerk = self.users["callcentre"]
        rows, chosen_topics = [], []
        for _n in range(CONSULTATIONS):
            day = rng.choices(open_days, day_weights)[0]
            place = rng.choices(places, place_weights)[0]
            if place == "outreach_event" and rng.random() < 0.3:  # events are sometimes on a Saturday
                saturday = day + timedelta(days=5 - day.weekday())
                day = saturday if saturday < self.today else day
            code = rng.choices(ward_codes, ward_weights)[0]
            roll = rng.random()
            residence = (self.wards[code] if roll < 0.82
                         else self.wards[rng.choice(ward_codes)] if roll < 0.92 else None)
            # Without a ward: outside the city or not given, two answers of their own.
            answer = (Participant.Residence.CITY if residence else Participant.Residence.OUTSIDE if roll < 0.97
                      else Participant.Residence.DECLINED)
            band = rng.choices(bands, band_weights)[0]
            solved = 62 if band in ("80-84", "85+") else 76
            outcome = rng.choices(("solved", "referred_class", "referred_elsewhere"), (solved, 92 - solved, 8))[0]
            picked = []
            for _topic in range(rng.choices((1, 2, 3), (62, 30, 8))[0]):
                topic = rng.choices(topics, topic_weights)[0]
                if topic not in picked:
                    picked.append(topic)
            recorded = datetime.combine(day, time(rng.randint(9, 16), rng.randrange(0, 60, 5)), tzinfo=self.tz)
            rows.append(Consultation(
                date=day, place=place, place_ward=self.wards[code], age_band=band, residence_ward=residence,
                residence=answer, outcome=outcome, duration_minutes=rng.choice(CONSULTATION_MINUTES), recorded_by=clerk,
                created_at=min(recorded + timedelta(minutes=rng.randint(1, 30)), self.now)))
            chosen_topics.append(picked)
        _bulk_create_keeping_timestamps(Consultation, rows, fields=("created_at",))
        through = Consultation.topics.through
        through.objects.bulk_create(
            [through(consultation_id=row.pk, consultationtopic_id=topic.pk)
             for row, picked in zip(rows, chosen_topics, strict=True) for topic in picked], batch_size=2000)


def _bulk_create_keeping_timestamps(model, objects: list, batch_size: int = 500,
                                    fields: tuple[str, ...] = ("created_at", "updated_at")):
    """bulk_create, keeping the created/updated times the objects were given, so that history keeps the dates
    it happened on.

    auto_now_add and auto_now overwrite them on insert, so they are written back afterwards in one executemany
    (bulk_update would build a CASE expression of thousands of branches, several times slower).
    """
    stamps = [tuple(getattr(obj, name) for name in fields) for obj in objects]
    model.objects.bulk_create(objects, batch_size=batch_size)
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column.column)} = %s" for column in columns)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    rows = []
    for obj, values in zip(objects, stamps, strict=True):
        for name, value in zip(fields, values, strict=True):
            setattr(obj, name, value)
        rows.append((*(column.get_db_prep_value(value, connection) for column, value in zip(columns, values,
                                                                                              strict=True)), obj.pk))
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
