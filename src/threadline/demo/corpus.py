"""Text templates for the demo generator: support chats, knowledge-base Q&A and research-agent runs.

Templates use ``string.Template`` placeholders (``${order_id}``) so code and JSON need no brace escaping; every
placeholder is filled from the per-session slots made by :func:`make_slots`.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

Slots = dict[str, str]


def fill(template: str, slots: Slots) -> str:
    """Substitute ``${name}`` placeholders; raises KeyError on a placeholder without a slot."""
    return string.Template(template).substitute(slots)


_NAMES = ("Maya", "Jonas", "Priya", "Lucas", "Amara", "Kenji", "Sofia", "Omar", "Elena", "Noah", "Aisha", "Mateo")
_PRODUCTS = (
    "Aero 14 laptop sleeve", "Nimbus noise-cancelling headphones", "Trailhead 30L backpack", "Lumen desk lamp",
    "Pulse smartwatch", "Drift mechanical keyboard", "Halo webcam", "Orbit wireless charger",
)
_CARRIERS = ("UPS", "DHL", "FedEx", "USPS")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_PLANS = ("Starter", "Pro", "Team", "Business")
_COMPANIES = ("Stripe", "Adyen", "Datadog", "Grafana Labs", "Snowflake", "Databricks", "Vercel", "Netlify")
_TOPICS = ("vector databases", "LLM evaluation frameworks", "OpenTelemetry for LLM apps", "serverless GPUs",
           "retrieval-augmented generation", "prompt caching")
_LIBS = ("pandas", "polars", "DuckDB", "FastAPI", "Pydantic", "LangGraph")


def make_slots(rng: random.Random) -> Slots:
    """Per-session values for every template placeholder (same order id, product... for the whole session)."""
    plans = rng.sample(_PLANS, 2)
    companies = rng.sample(_COMPANIES, 2)
    return {
        "name": rng.choice(_NAMES),
        "order_id": f"A-{rng.randint(10000, 99999)}",
        "product": rng.choice(_PRODUCTS),
        "amount": f"{rng.randint(19, 349)}.{rng.choice(('00', '49', '95', '99'))}",
        "carrier": rng.choice(_CARRIERS),
        "tracking": f"1Z{rng.getrandbits(40):010X}",
        "email": f"{rng.choice(_NAMES).lower()}.{rng.randint(1, 99)}@example.com",
        "days": str(rng.randint(3, 12)),
        "weekday": rng.choice(_WEEKDAYS),
        "eta_days": str(rng.randint(1, 4)),
        "last4": f"{rng.randint(0, 9999):04d}",
        "plan": plans[0],
        "new_plan": plans[1],
        "ticket_id": f"SUP-{rng.randint(1000, 9999)}",
        "invoice_id": f"INV-{rng.randint(2024000, 2024999)}",
        "limit": str(rng.choice((60, 120, 600, 1200))),
        "region": rng.choice(("us-east-1", "eu-west-1", "ap-southeast-2")),
        "company_a": companies[0],
        "company_b": companies[1],
        "topic": rng.choice(_TOPICS),
        "lib": rng.choice(_LIBS),
        "pct": str(rng.randint(3, 41)),
        "year": str(rng.choice((2023, 2024))),
    }


# ---------------------------------------------------------------------------------------------------------------
# Customer support chats


@dataclass(frozen=True)
class SupportTopic:
    """One support topic: what users say, the tool the bot calls, and how it answers."""

    key: str
    tags: tuple[str, ...]
    openers: tuple[str, ...]
    followups: tuple[str, ...]
    tool: str
    tool_args: dict[str, str]
    tool_result: dict[str, str]
    answers: tuple[str, ...]


SUPPORT_TOPICS: tuple[SupportTopic, ...] = (
    SupportTopic(
        key="order_status", tags=("orders",),
        openers=(
            "Hi, where is my order ${order_id}? I ordered the ${product} ${days} days ago and it still hasn't arrived.",
            "Can you check the status of order ${order_id}? The tracking page hasn't updated since ${weekday}.",
            "hey my order ${order_id} has said 'processing' for like a week now?? what's going on",
        ),
        followups=(
            "Can you give me the tracking number again?",
            "Is there any way to speed it up? I need it before ${weekday}.",
            "It says delivered but I don't have it. What now?",
        ),
        tool="lookup_order", tool_args={"order_id": "${order_id}"},
        tool_result={"order_id": "${order_id}", "status": "in_transit", "carrier": "${carrier}",
                     "tracking_number": "${tracking}", "eta_business_days": "${eta_days}"},
        answers=(
            "I checked order **${order_id}**: it shipped with ${carrier} (tracking `${tracking}`) and is in transit. "
            "The carrier estimates delivery within **${eta_days} business days**.\n\nIf it hasn't arrived by then, "
            "reply here and I'll open an investigation with ${carrier}.",
            "Thanks for your patience, ${name}. Your ${product} (order ${order_id}) left our warehouse and is "
            "currently with ${carrier}. Expected delivery: ${eta_days} business days. Tracking number: `${tracking}`.",
        ),
    ),
    SupportTopic(
        key="refund", tags=("billing", "refund"),
        openers=(
            "I'd like a refund for order ${order_id}. The ${product} stopped working after two days.",
            "How do I return the ${product}? It's not what I expected. Order number is ${order_id}.",
            "You charged me twice for order ${order_id} (${amount} each). Please refund the duplicate.",
        ),
        followups=(
            "How long until the money is back on my card ending in ${last4}?",
            "Do I need to print a return label?",
            "Can I get store credit instead of a refund?",
        ),
        tool="issue_refund", tool_args={"order_id": "${order_id}", "amount_usd": "${amount}", "reason": "customer"},
        tool_result={"refund_id": "RF-${last4}", "status": "approved", "amount_usd": "${amount}",
                     "card_last4": "${last4}"},
        answers=(
            "Done! I've issued a refund of **$${amount}** for order ${order_id} (refund id `RF-${last4}`). It will "
            "appear on your card ending in ${last4} within 5-10 business days, depending on your bank.",
            "I'm sorry the ${product} didn't work out. Your refund of $${amount} is approved. Next steps:\n\n"
            "1. Pack the item in its original box.\n2. Use the prepaid ${carrier} label I've emailed to you.\n"
            "3. Drop it off within 30 days.",
        ),
    ),
    SupportTopic(
        key="password_reset", tags=("account", "auth"),
        openers=(
            "I can't log in, I forgot my password. My email is ${email}.",
            "The password reset link says it expired. Can you send a new one to ${email}?",
            "locked out of my account after too many attempts, help",
        ),
        followups=(
            "I still don't see the email, I checked spam too.",
            "Do I need to set up 2FA again after resetting?",
            "Can I change the email on the account while we're at it?",
        ),
        tool="send_password_reset", tool_args={"email": "${email}"},
        tool_result={"sent": "true", "email": "${email}", "expires_in_minutes": "30"},
        answers=(
            "I've sent a fresh password reset link to **${email}**. It's valid for 30 minutes. If it doesn't show "
            "up in a few minutes, check your spam folder or add no-reply@example.com to your contacts.",
            "Your account was temporarily locked after several failed attempts; I've unlocked it and sent a reset "
            "link to ${email}. After resetting, your existing 2FA setup stays active.",
        ),
    ),
    SupportTopic(
        key="shipping_address", tags=("orders", "shipping"),
        openers=(
            "I entered the wrong shipping address for order ${order_id}, can you change it?",
            "Do you ship to Canada? And how much would it cost for the ${product}?",
            "Can I change the delivery address for ${order_id} to my office?",
        ),
        followups=(
            "Will that delay the delivery?",
            "Can you confirm the new address is saved?",
        ),
        tool="update_shipping_address", tool_args={"order_id": "${order_id}", "address_line1": "221B Baker St"},
        tool_result={"order_id": "${order_id}", "updated": "true", "eta_business_days": "${eta_days}"},
        answers=(
            "I've updated the shipping address on order ${order_id}. Since it hadn't been handed to ${carrier} yet, "
            "there's no delay: it should still arrive in about ${eta_days} business days.",
            "Good news: the address change went through before the label was printed. You'll get a confirmation "
            "email with the new address shortly.",
        ),
    ),
    SupportTopic(
        key="plan_change", tags=("billing", "subscription"),
        openers=(
            "I want to upgrade from ${plan} to ${new_plan}. How is the price prorated?",
            "Why was I charged $${amount} on invoice ${invoice_id}? I thought I was on the ${plan} plan.",
            "How do I cancel my ${plan} subscription?",
        ),
        followups=(
            "Will I lose my data if I downgrade later?",
            "Can you send me the invoice as a PDF?",
            "Is there an annual discount?",
        ),
        tool="get_subscription", tool_args={"invoice_id": "${invoice_id}"},
        tool_result={"plan": "${plan}", "invoice_id": "${invoice_id}", "amount_usd": "${amount}",
                     "renews_in_days": "${days}"},
        answers=(
            "You're currently on **${plan}**, renewing in ${days} days. Switching to ${new_plan} now is prorated: "
            "you only pay the difference for the remaining days, which shows up on your next invoice.",
            "Invoice ${invoice_id} ($${amount}) covers your ${plan} seats plus usage overage for last month. "
            "Here's the breakdown:\n\n| Item | Amount |\n|---|---|\n| ${plan} plan | base |\n| Overage | rest |",
        ),
    ),
    SupportTopic(
        key="api_question", tags=("developer", "api"),
        openers=(
            "Our integration gets HTTP 429 from your API. What's the rate limit on the ${plan} plan?",
            "How do I authenticate API requests? The docs mention bearer tokens but I get 401.",
            "Is there a webhook when an order ships?",
        ),
        followups=(
            "Can you show me an example in Python?",
            "Does the limit apply per key or per account?",
        ),
        tool="search_docs", tool_args={"query": "rate limits authentication webhooks ${plan}"},
        tool_result={"top_article": "API rate limits", "limit_per_minute": "${limit}"},
        answers=(
            "On the ${plan} plan the API allows **${limit} requests per minute** per key. When you exceed it you "
            "get a `429` with a `Retry-After` header. A simple retry loop:\n\n```python\nimport time, requests\n\n"
            "def get(url, key):\n    while True:\n        r = requests.get(url, headers={\"Authorization\": "
            "f\"Bearer {key}\"})\n        if r.status_code != 429:\n            return r\n"
            "        time.sleep(int(r.headers.get(\"Retry-After\", 1)))\n```",
            "Send your key as `Authorization: Bearer <key>`. A 401 usually means the key was created in a different "
            "workspace or was revoked; you can check it under *Settings → API keys*.",
        ),
    ),
)

SUPPORT_CLOSINGS = ("Perfect, thanks for the help!", "great, that's all", "Thank you so much!", "ok thanks",
                    "Awesome, appreciate it.")
SUPPORT_CLOSING_ANSWERS = (
    "You're welcome, ${name}! Have a great day.",
    "Happy to help! If anything else comes up, just reply to this chat.",
    "Glad I could help. Your reference for this conversation is ${ticket_id}.",
)
SUPPORT_ESCALATIONS = ("Can I talk to a human please?", "This is taking too long, I want to speak to an agent.")
SUPPORT_ESCALATION_ANSWER = ("I've created ticket **${ticket_id}** and a member of our team will reply by email "
                             "within 24 hours. I've included this conversation so you won't need to repeat yourself.")
SUPPORT_FAILURE_ANSWERS = (
    "I'm sorry, I'm having trouble reaching our backend right now. Please try again in a few minutes, or I "
    "can create a ticket so a teammate follows up.",
    "Something went wrong on our side while processing that. I haven't made any changes to your account; could "
    "you try again shortly?",
)
SUPPORT_SYSTEM_PROMPT_TOKENS = 420

# ---------------------------------------------------------------------------------------------------------------
# Knowledge-base Q&A (RAG)


@dataclass(frozen=True)
class KbArticle:
    """One knowledge-base document with questions it answers."""

    doc_id: str
    title: str
    content: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]
    example: str


KB_ARTICLES: tuple[KbArticle, ...] = (
    KbArticle(
        "kb-101", "API rate limits",
        "Each API key may send ${limit} requests per minute. Exceeding it returns 429 with a Retry-After header.",
        ("What are the API rate limits?", "Why am I getting 429 Too Many Requests?"),
        ("Each API key is limited to **${limit} requests per minute**. Over the limit the API answers `429` with a "
         "`Retry-After` header telling you how many seconds to wait [kb-101].",),
        "```python\nresp = client.get(\"/v1/orders\")\nif resp.status_code == 429:\n"
        "    time.sleep(int(resp.headers[\"Retry-After\"]))\n```",
    ),
    KbArticle(
        "kb-214", "Webhooks",
        "Webhooks POST a JSON event to your URL. Verify the X-Signature header with your signing secret (HMAC-SHA256).",
        ("How do I verify webhook signatures?", "Which events can I subscribe to with webhooks?"),
        ("Compute an HMAC-SHA256 of the raw request body with your signing secret and compare it to the "
         "`X-Signature` header using a constant-time comparison [kb-214].",),
        "```python\nimport hmac, hashlib\n\ndef verify(body: bytes, sig: str, secret: str) -> bool:\n"
        "    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()\n"
        "    return hmac.compare_digest(mac, sig)\n```",
    ),
    KbArticle(
        "kb-307", "Data retention",
        "Event data is retained for 30 days on Starter, 90 days on Pro and 13 months on Business. Exports are JSONL.",
        ("How long do you keep my data?", "Can I export my data before it's deleted?"),
        ("Retention depends on the plan: **30 days** on Starter, **90 days** on Pro and **13 months** on Business. "
         "You can export any time as JSONL from *Settings → Export* [kb-307].",),
        "```bash\ncurl -H \"Authorization: Bearer $$API_KEY\" \\\n"
        "  \"https://api.example.com/v1/export?format=jsonl\" -o data.jsonl\n```",
    ),
    KbArticle(
        "kb-412", "Single sign-on (SSO)",
        "SAML 2.0 and OIDC SSO are available on Business. Configure the IdP metadata URL under Settings → Security.",
        ("Do you support SSO with Okta?", "How do I set up SAML?"),
        ("Yes. SSO via **SAML 2.0 or OIDC** (Okta, Azure AD, Google Workspace) is part of the Business plan. Paste "
         "your IdP metadata URL under *Settings → Security* and test the login before enforcing it [kb-412].",),
        "1. In Okta, create a SAML 2.0 app.\n2. Set the ACS URL to `https://app.example.com/sso/acs`.\n"
        "3. Copy the metadata URL into *Settings → Security*.",
    ),
    KbArticle(
        "kb-518", "Regions and data residency",
        "Workspaces can be hosted in ${region}. Data never leaves the chosen region; it cannot be changed later.",
        ("Where is my data stored?", "Can I host my workspace in the EU?"),
        ("Your workspace is hosted in the region chosen at creation (yours: `${region}`), and data never leaves it. "
         "The region can't be changed afterwards, so EU customers should pick `eu-west-1` when signing up [kb-518].",),
        "Region is set when creating the workspace:\n\n```bash\nexample workspaces create --name acme --region "
        "eu-west-1\n```",
    ),
    KbArticle(
        "kb-620", "Python SDK installation",
        "Install with pip install example-sdk. Requires Python 3.9+. Configure with EXAMPLE_API_KEY env var.",
        ("How do I install the Python SDK?", "The SDK says 'missing API key', what do I set?"),
        ("Install it with `pip install example-sdk` (Python 3.9+), then set the `EXAMPLE_API_KEY` environment "
         "variable; the client picks it up automatically [kb-620].",),
        "```python\nfrom example_sdk import Client\n\nclient = Client()  # reads EXAMPLE_API_KEY\n"
        "print(client.orders.list(limit=5))\n```",
    ),
)

RAG_EXAMPLE_FOLLOWUPS = ("Can you show me an example?", "Do you have a code snippet for that?", "Show me the steps.")
RAG_UNKNOWN_QUESTIONS = ("Does your product integrate with SAP?", "What's your company's carbon footprint?")
RAG_UNKNOWN_ANSWER = ("I couldn't find anything about that in the documentation. You may want to contact "
                      "support@example.com for a definitive answer.")
RAG_SYSTEM_PROMPT_TOKENS = 180

# ---------------------------------------------------------------------------------------------------------------
# Research agent runs


@dataclass(frozen=True)
class ResearchTask:
    """One research task: the request, what the agent searches/reads/computes, and its report."""

    key: str
    tags: tuple[str, ...]
    prompts: tuple[str, ...]
    queries: tuple[str, ...]
    finding: str
    code: str
    answers: tuple[str, ...]
    followups: tuple[str, ...]


RESEARCH_TASKS: tuple[ResearchTask, ...] = (
    ResearchTask(
        "compare_pricing", ("research", "pricing"),
        ("Compare the pricing models of ${company_a} and ${company_b} for a mid-size team.",
         "Which is cheaper for us at 2M events/month: ${company_a} or ${company_b}?"),
        ("${company_a} pricing ${year}", "${company_b} pricing per seat", "${company_a} vs ${company_b}"),
        "${company_a} charges per usage unit with volume discounts above 1M events; ${company_b} charges per seat.",
        "usage = 2_000_000\nprint(round(usage * 0.00012, 2), 25 * 49)",
        ("## ${company_a} vs ${company_b}\n\n- **${company_a}**: usage-based, roughly ${pct}% cheaper at your volume.\n"
         "- **${company_b}**: per-seat, predictable but grows with headcount.\n\n**Recommendation:** ${company_a} "
         "unless you expect usage to triple.",),
        ("Can you put that in a table?", "What about hidden costs like egress?", "Add a third option."),
    ),
    ResearchTask(
        "literature_review", ("research", "summary"),
        ("Summarize the state of the art in ${topic} as of ${year}.",
         "Give me a short literature review on ${topic} with key references."),
        ("${topic} survey ${year}", "${topic} benchmark results", "${topic} open problems"),
        "Recent surveys on ${topic} highlight evaluation gaps, cost/latency trade-offs and the lack of standards.",
        "papers = ['survey', 'benchmark', 'position']\nprint(len(papers))",
        ("**${topic}: summary**\n\n1. Adoption grew sharply in ${year}; most teams start with managed offerings.\n"
         "2. Benchmarks disagree; results vary by up to ${pct}% between setups.\n3. Open problems: evaluation, "
         "cost control, observability.",),
        ("Which of these papers is most cited?", "Focus on production use cases.", "Make it shorter."),
    ),
    ResearchTask(
        "data_analysis", ("analysis", "data"),
        ("Load sales_${year}.csv and tell me which region grew fastest quarter over quarter.",
         "Analyze the monthly signups in signups.csv with ${lib} and flag anomalies."),
        ("${lib} groupby pct_change example", "detect anomalies time series ${lib}"),
        "The ${lib} docs describe groupby + pct_change for growth and rolling z-scores for anomaly detection.",
        "import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(df.groupby('region')['revenue'].sum().pct_change())",
        ("EMEA grew fastest: **+${pct}% QoQ**, driven by March. APAC was flat.\n\n```python\n"
         "df.groupby(['region', 'quarter'])['revenue'].sum().unstack().pct_change(axis=1)\n```",),
        ("Plot it by month.", "Exclude the test accounts and rerun.", "Why did March spike?"),
    ),
    ResearchTask(
        "library_upgrade", ("engineering", "migration"),
        ("What breaks if we upgrade ${lib} to the latest major version?",
         "Write a migration checklist for the new ${lib} release."),
        ("${lib} changelog breaking changes", "${lib} migration guide"),
        "The ${lib} migration guide lists renamed arguments, removed deprecated APIs and a new default config.",
        "import importlib.metadata as m\nprint(m.version('${lib}'.lower()))",
        ("### ${lib} upgrade checklist\n\n- [ ] Replace removed deprecated APIs\n- [ ] Update renamed arguments\n"
         "- [ ] Re-run the test suite with warnings as errors\n\nEstimated effort: ${eta_days} days.",),
        ("Which of our modules are affected?", "Is there a codemod for this?"),
    ),
)

RESEARCH_FOLLOWUP_ANSWERS = (
    "Updated as requested:\n\n| Option | Monthly cost | Notes |\n|---|---|---|\n"
    "| ${company_a} | lower | usage-based |\n| ${company_b} | higher | per-seat |",
    "Here's the revised version, focused on what you asked. The main change: ${pct}% of the difference comes from "
    "a single factor, which I've called out at the top.",
    "I dug deeper. The short answer is yes, with caveats; details and sources are below.",
)
AGENT_SYSTEM_PROMPT_TOKENS = 900

# Tool failures: (exception type, message template), by app; the message may use session slots.
SUPPORT_TOOL_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (TimeoutError, "orders-service did not answer within 5s"),
    (ConnectionError, "503 Service Unavailable from billing-api"),
    (PermissionError, "refunds above $$100 need a human agent's approval"),
    (LookupError, "no record found for order ${order_id}"),
)
AGENT_TOOL_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (TimeoutError, "request timed out after 10s"),
    (ConnectionError, "503 Service Unavailable from www.example.org"),
    (RuntimeError, "429 Too Many Requests (search API rate limit)"),
    (KeyError, "'revenue' column not found in dataframe"),
)
