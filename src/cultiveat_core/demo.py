"""Demo data: seed 003's sample contacts and a deterministic synthetic population.

The same generator feeds ``cultiveat demo`` and the benchmarks (``benchmarks/generate.py``):
realistic names, about one company per eight contacts, positions, industries, sizes, tags,
stages, and activities of the core's types spread over two years, skewed so most contacts
have few activities and some have hundreds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Priya",
    "Wei",
    "Fatima",
    "Carlos",
    "Yuki",
    "Olga",
    "Ahmed",
    "Sofia",
    "Lucas",
    "Amara",
    "Noah",
    "Emma",
    "Liam",
    "Olivia",
    "Mateo",
    "Chloe",
    "Arjun",
    "Mei",
    "Ivan",
    "Zoe",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Chen",
    "Kumar",
    "Nakamura",
    "Okafor",
    "Novak",
    "Schmidt",
    "Rossi",
    "Silva",
]
COMPANY_WORDS = [
    "Tech",
    "Growth",
    "Future",
    "Innovate",
    "Blue",
    "Summit",
    "Nova",
    "Bright",
    "Peak",
    "Green",
    "Quantum",
    "Vertex",
    "Atlas",
    "Harbor",
    "Pioneer",
    "Apex",
    "Silver",
    "Urban",
    "Prime",
    "Core",
]
COMPANY_SUFFIXES = [
    "Corp",
    "Solutions",
    "Industries",
    "Labs",
    "Systems",
    "Group",
    "Partners",
    "Co",
    "Works",
    "Analytics",
]
POSITIONS = [
    "CEO",
    "CTO",
    "CFO",
    "COO",
    "CMO",
    "Founder",
    "VP of Sales",
    "VP Marketing",
    "Director of IT",
    "Head of Operations",
    "Procurement Manager",
    "Sales Manager",
    "Marketing Manager",
    "Product Manager",
    "Consultant",
    "Senior Engineer",
    "Junior Associate",
    "Marketing Director",
    "Account Executive",
    "Analyst",
]
INDUSTRIES = [
    "SaaS / Technology",
    "Financial Services",
    "Healthcare",
    "Utilities & Energy",
    "Government",
    "Manufacturing",
    "Professional Services",
    "Real Estate",
    "Education",
    "Retail",
    "Media",
]
STAGES = ["Cold Lead", "Nurturing", "Qualified", "Hot Lead", "Customer", "Lost"]
TYPES = ["Prospect", "Investor", "Partner", "Customer"]
CHANNELS = ["Webinar", "Newsletter", "Website", "Referral", "Event", "Social", "Import"]
TAGS = [
    "Enterprise",
    "SMB",
    "CEO",
    "Decision Maker",
    "Newsletter",
    "Demo",
    "Trial",
    "Partner",
    "Priority",
    "Utility",
    "Fintech",
    "Healthcare",
]
ACTIVITY_WEIGHTS = [
    ("email_opened", 30),
    ("email_sent", 20),
    ("email_clicked", 10),
    ("page_visit", 15),
    ("note", 4),
    ("call", 4),
    ("meeting", 2),
    ("webinar_attended", 3),
    ("content_downloaded", 4),
    ("demo_requested", 1),
    ("pricing_requested", 1),
    ("demo_scheduled", 1),
    ("subscribed", 2),
    ("form_submitted", 2),
    ("purchase", 1),
]

SAMPLE_CONTACTS: list[dict[str, Any]] = [
    {
        "first_name": "David",
        "last_name": "Thompson",
        "position": "CEO",
        "company": "FutureTech Industries",
        "email": "d.thompson@futuretech.net",
        "phone": "+1 (555) 321-0987",
        "stage": "Hot Lead",
        "industry": "SaaS / Technology",
        "company_size": 1200,
        "type": "Prospect",
        "channel": "Webinar",
        "tags": ["Enterprise", "CEO"],
    },
    {
        "first_name": "Emily",
        "last_name": "Rodriguez",
        "position": "Marketing Director",
        "company": "GrowthCo",
        "email": "emily.r@growthco.com",
        "phone": "+1 (555) 456-7690",
        "stage": "Nurturing",
        "industry": "Professional Services",
        "company_size": 150,
        "type": "Prospect",
        "channel": "Newsletter",
        "tags": ["Newsletter"],
    },
    {
        "first_name": "Michael",
        "last_name": "Chen",
        "position": "CTO",
        "company": "InnovateTech",
        "email": "m.chen@innovatetech.io",
        "phone": "+1 (555) 987-6543",
        "stage": "Qualified",
        "industry": "SaaS / Technology",
        "company_size": 400,
        "type": "Prospect",
        "channel": "Website",
        "tags": ["Decision Maker"],
    },
    {
        "first_name": "Sarah",
        "last_name": "Johnson",
        "position": "VP of Sales",
        "company": "TechCorp Solutions",
        "email": "sarah.johnson@techcorp.com",
        "phone": "+1 (555) 123-4567",
        "stage": "Hot Lead",
        "industry": "Financial Services",
        "company_size": 2500,
        "type": "Prospect",
        "channel": "Event",
        "tags": ["Enterprise", "Priority"],
    },
]


def _sample_activities(now: datetime) -> dict[str, list[dict[str, Any]]]:
    day = timedelta(days=1)
    return {
        "d.thompson@futuretech.net": [
            {"type": "demo_requested", "occurred_at": now - day},
            *(
                {
                    "type": "page_visit",
                    "occurred_at": now - timedelta(hours=6 * i),
                    "data": {"url": "/pricing"},
                }
                for i in range(1, 9)
            ),
            {"type": "email_opened", "occurred_at": now - 2 * day},
            {"type": "email_clicked", "occurred_at": now - 2 * day},
            {"type": "webinar_attended", "occurred_at": now - 5 * day},
        ],
        "emily.r@growthco.com": [
            {
                "type": "email_opened",
                "occurred_at": now - 4 * day,
                "data": {"subject": "Newsletter"},
            },
            {
                "type": "email_clicked",
                "occurred_at": now - 4 * day,
                "data": {"subject": "Newsletter"},
            },
            {"type": "subscribed", "occurred_at": now - 30 * day},
        ],
        "m.chen@innovatetech.io": [
            {"type": "demo_scheduled", "occurred_at": now - 8 * day},
            {"type": "pricing_requested", "occurred_at": now - 8 * day},
        ],
        "sarah.johnson@techcorp.com": [
            {
                "type": "email_sent",
                "occurred_at": now - 3 * day,
                "data": {"subject": "Product Demo Follow-up", "direction": "outbound"},
            },
            {
                "type": "email_opened",
                "occurred_at": now - 3 * day,
                "data": {"subject": "Product Demo Follow-up"},
            },
            {
                "type": "email_replied",
                "occurred_at": now - 2 * day,
                "data": {"subject": "Re: Product Demo Follow-up", "direction": "inbound"},
            },
            {
                "type": "call",
                "occurred_at": now - day,
                "data": {
                    "purpose": "Discovery",
                    "status": "Completed",
                    "direction": "outbound",
                    "duration_minutes": 15,
                    "notes": "Discovery call; strong interest.",
                },
            },
            {"type": "demo_requested", "occurred_at": now - day},
        ],
    }


def synthetic_contacts(count: int, seed: int = 42) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    companies = []
    seen: dict[str, int] = {}
    for _ in range(max(1, count // 8)):
        first, second = rng.choice(COMPANY_WORDS), rng.choice(COMPANY_WORDS).lower()
        name = f"{first}{second} {rng.choice(COMPANY_SUFFIXES)}"
        seen[name] = seen.get(name, 0) + 1
        if (
            seen[name] > 1
        ):  # 4,000 word combinations: number repeats so there is one company per 8 contacts
            name = f"{name} {seen[name]}"
        companies.append(
            (name, rng.choice(INDUSTRIES), rng.choice([5, 20, 50, 120, 300, 800, 1500, 5000]))
        )
    for i in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company, industry, size = rng.choice(companies)
        yield {
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}.{last.lower()}.{i}@{company.split()[0].lower()}.example.com",
            "phone": f"+1 202 555 {i % 10000:04d}",
            "position": rng.choice(POSITIONS),
            "company": company,
            "industry": industry,
            "company_size": size,
            "stage": rng.choices(STAGES, weights=[40, 25, 15, 5, 10, 5])[0],
            "type": rng.choice(TYPES),
            "channel": rng.choice(CHANNELS),
            "tags": rng.sample(TAGS, rng.choice([0, 1, 1, 2, 3])),
        }


def activity_count(rng: random.Random, mean: float = 10.0) -> int:
    """Skewed: most contacts get a few activities, a few get hundreds (mean about ``mean``)."""
    return min(int(rng.paretovariate(1.6) * mean * 0.375), 600)


def synthetic_activities(
    contact_ids: list[int], seed: int = 7, mean: float = 10.0, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    names = [n for n, _ in ACTIVITY_WEIGHTS]
    weights = [w for _, w in ACTIVITY_WEIGHTS]
    for contact_id in contact_ids:
        for _ in range(activity_count(rng, mean)):
            kind = rng.choices(names, weights)[0]
            at = now - timedelta(seconds=rng.randint(0, 730 * 86400))
            data: dict[str, Any] = {}
            if kind == "page_visit":
                data = {
                    "url": rng.choice(
                        ["/pricing", "/features", "/blog", "/docs", "/pricing", "/demo"]
                    )
                }
            elif kind == "call":
                data = {
                    "purpose": "Discovery",
                    "status": rng.choice(["Completed", "No Answer", "Voicemail"]),
                }
            elif kind == "note":
                data = {"text": "Spoke about their roadmap.", "note_type": "Sales"}
            elif kind == "purchase":
                data = {"amount": round(rng.uniform(50, 5000), 2), "currency": "USD"}
            elif kind == "content_downloaded":
                data = {"content_type": rng.choice(["whitepaper", "ebook", "case_study"])}
            elif kind.startswith("email_"):
                data = {
                    "subject": rng.choice(
                        ["Welcome", "Product update", "Webinar invite", "Newsletter"]
                    )
                }
            yield {"contact_id": contact_id, "type": kind, "occurred_at": at, "data": data}


def load_demo(crm: Any, count: int = 3000, batch: int = 1000) -> dict[str, int]:
    """Load the sample contacts and ``count`` synthetic ones (skips what is already there)."""
    from cultiveat_core.domain import Actor

    actor = Actor.system("demo")
    created = 0
    activities = 0
    with crm.engine.connect() as conn:
        existing = {
            c.email
            for c in [crm.contacts.find_by_email(conn, s["email"]) for s in SAMPLE_CONTACTS]
            if c
        }
    fresh = [s for s in SAMPLE_CONTACTS if s["email"] not in existing]
    if fresh:
        samples = crm.contacts.create_many(actor, fresh, source="demo")
        created += len(samples)
        by_email = {c.email: c.id for c in samples}
        items = [
            {**a, "contact_id": by_email[email]}
            for email, acts in _sample_activities(datetime.now(UTC)).items()
            if email in by_email
            for a in acts
        ]
        activities += len(crm.activities.log_many(actor, items))
        synthetic = list(synthetic_contacts(count))
        for start in range(0, len(synthetic), batch):
            contacts = crm.contacts.create_many(
                actor, synthetic[start : start + batch], source="demo"
            )
            created += len(contacts)
            items = list(synthetic_activities([c.id for c in contacts], seed=start))
            for offset in range(0, len(items), 5000):
                activities += len(crm.activities.log_many(actor, items[offset : offset + 5000]))
    return {"contacts": created, "activities": activities}
