"""The default lifecycle, lead statuses and opportunity stages that a new workspace starts with.

These are data, loaded into tables by a migration; the revenue contract edits the tables.
"""

LEAD_STATUSES = [
    ("new", "New"),
    ("attempting", "Attempting"),
    ("connected", "Connected"),
    ("qualified", "Qualified"),
    ("unqualified", "Unqualified"),
    ("bad_timing", "Bad timing"),
]

# key, name, position, is_side_stage, side, lead status set on entry (None keeps the current one)
LIFECYCLE_STAGES = [
    ("subscriber", "Subscriber", 1, False, "marketing", None),
    ("lead", "Lead", 2, False, "marketing", "new"),
    ("mql", "MQL", 3, False, "marketing", "new"),
    ("sal", "SAL", 4, False, "sales", None),
    ("sql", "SQL", 5, False, "sales", "qualified"),
    ("opportunity", "Opportunity", 6, False, "sales", "qualified"),
    ("customer", "Customer", 7, False, "sales", None),
    ("evangelist", "Evangelist", 8, False, "sales", None),
    ("recycled", "Recycled", 20, True, "both", "bad_timing"),
    ("disqualified", "Disqualified", 21, True, "both", "unqualified"),
    ("churned", "Churned", 22, True, "sales", None),
]

MAIN_STAGES = [key for key, _, _, is_side, _, _ in LIFECYCLE_STAGES if not is_side]


def default_transitions() -> list[tuple[str, str, str]]:
    """Every allowed move: forward along the main path, and the backward side moves."""
    moves = []
    for index, from_key in enumerate(MAIN_STAGES):
        moves += [(from_key, to_key, "forward") for to_key in MAIN_STAGES[index + 1 :]]
    moves += [(key, "recycled", "recycle") for key in ["lead", "mql", "sal", "sql", "opportunity"]]
    moves += [
        (key, "disqualified", "disqualify")
        for key in ["subscriber", "lead", "mql", "sal", "sql", "opportunity", "recycled"]
    ]
    moves += [(key, "churned", "churn") for key in ["customer", "evangelist"]]
    moves += [
        ("recycled", "lead", "reopen"),
        ("recycled", "mql", "reopen"),
        ("disqualified", "lead", "reopen"),
        ("churned", "opportunity", "reopen"),
        ("churned", "customer", "reopen"),
    ]
    return moves


# key, name, position, probability %, forecast category, is_closed, is_won
OPPORTUNITY_STAGES = [
    ("discovery", "Discovery", 1, 10, "pipeline", False, False),
    ("qualification", "Qualification", 2, 20, "pipeline", False, False),
    ("solution", "Solution", 3, 40, "best_case", False, False),
    ("proposal", "Proposal", 4, 60, "best_case", False, False),
    ("negotiation", "Negotiation", 5, 80, "commit", False, False),
    ("closed_won", "Closed Won", 6, 100, "closed", True, True),
    ("closed_lost", "Closed Lost", 7, 0, "omitted", True, False),
]

# Free-mail domains are never matched to an account.
FREE_MAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "ymail.com",
        "rocketmail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "mail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "virgilio.it",
        "t-online.de",
        "btinternet.com",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
        "rediffmail.com",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
    ]
)
