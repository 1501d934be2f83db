"""The words and numbers the demo company is made of: people, markets, campaigns and reasons.

Every email domain here is under the reserved `.example` top-level domain (RFC 2606), so demo
data can never send mail to a real person or company.
"""

from tandem.users.models import Role

# ---------------------------------------------------------------- the cast

# email local part, full name, role, team
DEMO_USERS = [
    ("mona.marketing-manager", "Mona Alvarez", Role.MARKETING_MANAGER, "Marketing"),
    ("maya.marketing", "Maya Chen", Role.MARKETING, "Marketing"),
    ("leo.marketing", "Leo Fischer", Role.MARKETING, "Marketing"),
    ("priya.marketing", "Priya Nair", Role.MARKETING, "Marketing"),
    ("sam.sales-manager", "Sam Okafor", Role.SALES_MANAGER, "Sales"),
    ("dana.sdr", "Dana Kim", Role.SDR, "Sales"),
    ("omar.sdr", "Omar Haddad", Role.SDR, "Sales"),
    ("lucia.sdr", "Lucia Romero", Role.SDR, "Sales"),
    ("ben.sdr", "Ben Walsh", Role.SDR, "Sales"),
    ("erin.ae", "Erin Novak", Role.AE, "Sales"),
    ("raj.ae", "Raj Mehta", Role.AE, "Sales"),
    ("sofia.ae", "Sofia Rossi", Role.AE, "Sales"),
    ("tom.ae", "Tom Becker", Role.AE, "Sales"),
    ("rita.revops", "Rita Santos", Role.REVOPS, None),
    ("chris.cro", "Chris Lee", Role.LEADERSHIP, None),
]
# Which AEs own which region's accounts.
AE_TERRITORIES = {
    "North America": ["erin.ae", "raj.ae"],
    "EMEA": ["sofia.ae"],
    "APAC": ["tom.ae"],
    "LATAM": ["tom.ae", "raj.ae"],
}

# ---------------------------------------------------------------- the market

# region, weight, [(country, weight, Faker locale, UTC offset hours)]
REGIONS = [
    (
        "North America",
        50,
        [
            ("US", 85, "en_US", -5),
            ("CA", 15, "en_CA", -5),
        ],
    ),
    (
        "EMEA",
        32,
        [
            ("GB", 30, "en_GB", 0),
            ("DE", 22, "de_DE", 1),
            ("FR", 14, "fr_FR", 1),
            ("NL", 10, "nl_NL", 1),
            ("ES", 7, "es_ES", 1),
            ("SE", 6, "sv_SE", 1),
            ("IE", 5, "en_IE", 0),
            ("CH", 6, "de_CH", 1),
        ],
    ),
    (
        "APAC",
        12,
        [
            ("AU", 40, "en_AU", 10),
            ("SG", 20, "en_US", 8),
            ("JP", 15, "en_US", 9),
            ("IN", 25, "en_IN", 5),
        ],
    ),
    (
        "LATAM",
        6,
        [
            ("BR", 60, "pt_BR", -3),
            ("MX", 40, "es_MX", -6),
        ],
    ),
]
LEGAL_SUFFIXES = {
    "US": "Inc.",
    "CA": "Inc.",
    "GB": "Ltd",
    "DE": "GmbH",
    "FR": "SAS",
    "NL": "B.V.",
    "ES": "S.L.",
    "SE": "AB",
    "IE": "Ltd",
    "CH": "AG",
    "AU": "Pty Ltd",
    "SG": "Pte Ltd",
    "JP": "K.K.",
    "IN": "Pvt Ltd",
    "BR": "Ltda",
    "MX": "S.A. de C.V.",
}
# industry, weight, ICP fit bonus, name endings
INDUSTRIES = [
    ("Software", 18, 15, ["Software", "Labs", "Cloud", "Systems", "Technologies", "Data"]),
    ("Financial services", 10, 10, ["Capital", "Financial", "Payments", "Bank", "Finance"]),
    ("Healthcare", 9, 0, ["Health", "Medical", "Care", "Clinics", "Diagnostics"]),
    ("Manufacturing", 10, 0, ["Manufacturing", "Industries", "Components", "Works", "Machinery"]),
    ("Retail & e-commerce", 8, 5, ["Retail", "Commerce", "Stores", "Brands", "Goods"]),
    ("Professional services", 9, 5, ["Consulting", "Partners", "Advisory", "Group"]),
    ("Marketing & advertising", 6, 10, ["Media", "Agency", "Creative", "Digital", "Studio"]),
    ("Logistics & transport", 6, 0, ["Logistics", "Freight", "Transport", "Shipping"]),
    ("Education", 5, -10, ["Learning", "Academy", "Education", "Schools"]),
    ("Telecommunications", 4, 5, ["Telecom", "Networks", "Connect", "Mobile"]),
    ("Energy & utilities", 4, -5, ["Energy", "Power", "Utilities", "Solar"]),
    ("Insurance", 5, 5, ["Insurance", "Assurance", "Mutual", "Underwriters"]),
    ("Real estate", 3, -5, ["Properties", "Realty", "Estates", "Living"]),
    ("Hospitality & travel", 3, -5, ["Hotels", "Travel", "Hospitality", "Resorts"]),
]
NAME_PREFIXES = (  # noqa: SIM905 - a word list reads better as words
    "Blue North Bright Iron Silver Clear Green Red Summit Harbor Apex Nova Atlas Cedar "
    "Quantum Vertex Pioneer Beacon Orbit Granite Lumen Crest Maple Falcon Stellar Polar "
    "Alpine Coastal Prime True Open Swift Bold Deep High Sun Star Oak Pine River Stone Cloud "
    "Rapid Smart Golden"
).split()
NAME_CORES = (  # noqa: SIM905 - a word list reads better as words
    "peak wave stone field bridge light path point works line gate forge stack loop core "
    "leaf river sky wind shift view grid base bay ridge spring craft hub mark"
).split()
# Free-mail providers, under .example so that no address can reach a real mailbox.
FREE_MAIL = {
    "default": [
        ("gmail.example", 60),
        ("outlook.example", 14),
        ("yahoo.example", 10),
        ("hotmail.example", 8),
        ("icloud.example", 6),
        ("proton.example", 2),
    ],
    "DE": [
        ("gmail.example", 40),
        ("gmx.example", 25),
        ("webde.example", 20),
        ("t-online.example", 10),
        ("outlook.example", 5),
    ],
    "FR": [
        ("gmail.example", 50),
        ("orange.example", 20),
        ("free.example", 15),
        ("laposte.example", 10),
        ("yahoo.example", 5),
    ],
    "GB": [
        ("gmail.example", 55),
        ("hotmail.example", 15),
        ("yahoo.example", 10),
        ("btinternet.example", 10),
        ("outlook.example", 10),
    ],
}
# title, seniority (0 practitioner .. 3 executive), persona
TITLES = [
    ("Chief Marketing Officer", 3, "Marketing leader"),
    ("VP Marketing", 3, "Marketing leader"),
    ("Head of Demand Generation", 2, "Marketing leader"),
    ("Director of Growth", 2, "Marketing leader"),
    ("Marketing Operations Manager", 1, "Marketing ops"),
    ("Marketing Automation Specialist", 0, "Marketing ops"),
    ("Demand Generation Manager", 1, "Marketer"),
    ("Content Marketing Manager", 1, "Marketer"),
    ("Product Marketing Manager", 1, "Marketer"),
    ("Growth Marketer", 0, "Marketer"),
    ("Chief Revenue Officer", 3, "Sales leader"),
    ("VP Sales", 3, "Sales leader"),
    ("Sales Director", 2, "Sales leader"),
    ("Head of Sales Development", 2, "Sales leader"),
    ("Account Executive", 0, "Seller"),
    ("Sales Development Representative", 0, "Seller"),
    ("Head of Revenue Operations", 2, "RevOps"),
    ("Revenue Operations Manager", 1, "RevOps"),
    ("Sales Operations Analyst", 0, "RevOps"),
    ("CRM Administrator", 0, "RevOps"),
    ("Chief Executive Officer", 3, "Executive"),
    ("Chief Financial Officer", 3, "Executive"),
    ("Founder", 3, "Executive"),
    ("IT Manager", 1, "IT"),
    ("Data Analyst", 0, "IT"),
    ("Business Intelligence Lead", 1, "IT"),
    ("Consultant", 0, "Other"),
    ("Student", 0, "Other"),
]
BUYING_ROLES = [
    ("", 30),
    ("Champion", 14),
    ("Decision maker", 12),
    ("Economic buyer", 8),
    ("Influencer", 16),
    ("Technical evaluator", 10),
    ("End user", 10),
]
SITE_PAGES = [
    ("/", "Home"),
    ("/pricing", "Pricing"),
    ("/product/lead-scoring", "Lead scoring"),
    ("/product/attribution", "Attribution"),
    ("/product/handoff-sla", "Hand-off SLAs"),
    ("/product/revenue-contract", "The revenue contract"),
    ("/customers", "Customers"),
    ("/integrations/hubspot", "HubSpot integration"),
    ("/integrations/salesforce", "Salesforce integration"),
    ("/blog/mql-definitions-that-sales-trusts", "Blog: MQL definitions that sales trusts"),
    ("/blog/why-leads-get-recycled", "Blog: Why leads get recycled"),
    ("/blog/attribution-without-black-boxes", "Blog: Attribution without black boxes"),
    ("/blog/sla-clocks-and-holidays", "Blog: SLA clocks and holidays"),
    ("/docs/getting-started", "Docs: Getting started"),
    ("/demo", "Book a demo"),
]
PAID_SEARCH_TERMS = [
    "lead scoring software",
    "marketing sales alignment",
    "b2b attribution tool",
    "crm for marketing and sales",
    "lead handoff sla",
    "revops platform",
]
RECYCLE_REASONS = [
    "Bad timing: revisit next quarter",
    "No budget until next fiscal year",
    "No response after six attempts",
    "Under contract with a competitor until renewal",
    "Interested later: evaluating in the second half",
]
DISQUALIFY_REASONS = [
    "Student or job seeker",
    "Works for a competitor",
    "Company too small (under 10 employees)",
    "Invalid contact details",
    "Duplicate of another record",
    "Outside the regions we serve",
    "Consultant researching for a client",
]
CHURN_REASONS = [
    "Did not renew: budget cuts",
    "Acquired by a company that uses another tool",
    "Champion left and adoption stalled",
    "Moved to an in-house solution",
]
LOST_REASONS = [
    ("Price", 22),
    ("Lost to competitor", 26),
    ("No decision / status quo", 24),
    ("Timing", 12),
    ("Missing feature", 10),
    ("Champion left", 6),
]
QUALIFY_REASONS = [
    "Qualified on discovery call: budget and timeline confirmed",
    "Qualified: pain confirmed, decision maker engaged",
    "Qualified: evaluating tools this quarter",
]
OPPORTUNITY_STAGE_NOTES = {
    "qualification": "Discovery done; needs confirmed",
    "solution": "Demo delivered to the buying group",
    "proposal": "Proposal sent",
    "negotiation": "Verbal yes; in procurement and legal review",
    "closed_won": "Order form signed",
}

# ---------------------------------------------------------------- campaigns

# name, channel, type, kind (how the generator uses it), cost, start and end as shares of the
# history window, utm_source, utm_medium
# fmt: off
CAMPAIGNS = [
    ("Google Ads: brand", "paid_search", "ads", "ads", 36_000, 0, 1, "google", "cpc"),
    ("Google Ads: non-brand", "paid_search", "ads", "ads", 120_000, 0, 1, "google", "cpc"),
    ("LinkedIn Ads: target accounts (ABM)", "paid_social", "ads", "ads", 90_000, 0.1, 1, "linkedin", "paid_social"),
    ("LinkedIn Ads: revenue contract launch", "paid_social", "ads", "ads", 28_000, 0.55, 0.7, "linkedin",
     "paid_social"),
    ("Monthly newsletter", "email", "email", "email", 6_000, 0, 1, "newsletter", "email"),
    ("Nurture: new subscribers", "email", "email", "email", 3_000, 0, 1, "nurture", "email"),
    ("Nurture: recycled leads re-engagement", "email", "email", "email", 4_000, 0.2, 1, "nurture", "email"),
    ("Product launch announcement", "email", "email", "email", 2_500, 0.6, 0.66, "newsletter", "email"),
    ("SEO: blog", "organic_search", "content", "organic", 24_000, 0, 1, "", ""),
    ("Partner referral program", "partner", "partner", "partner", 15_000, 0, 1, "partner", "referral"),
    ("Customer referral program", "referral", "other", "referral", 5_000, 0.05, 1, "customer", "referral"),
    ("SDR outbound sequences", "outbound_sales", "outbound", "outbound", 12_000, 0, 1, "outreach", "sales_email"),
    ("Ebook: The revenue contract playbook", "content", "content", "content", 8_000, 0.05, 0.45, "website", "content"),
    ("Report: B2B funnel benchmarks", "content", "content", "content", 10_000, 0.4, 0.8, "website", "content"),
    ("Template: MQL definition worksheet", "content", "content", "content", 4_000, 0.7, 1, "website", "content"),
]
# fmt: on
WEBINARS = [
    "Pipeline reviews that sales and marketing both trust",
    "Lead scoring without black boxes",
    "SLA clocks for the lead hand-off",
    "Attribution that survives the CFO",
    "Account-based marketing for mid-market teams",
    "Forecasting with stage history",
]
EVENTS = [
    ("SaaStr Annual booth", 60_000),
    ("RevOps Summit London", 35_000),
    ("B2B Marketing Expo", 25_000),
    ("Dreamforce side event", 45_000),
]
