"""Deterministic synthetic service-desk tickets for the demo and monitoring tests.

``generate_tickets`` builds a realistic, seeded stream of IT service-desk
tickets (subject + free-text description + category) and ``write_demo_csv``
writes it as a CSV with the columns in :data:`COLUMNS`. The text comes from
per-category subject and sentence templates whose slots (devices,
applications, buildings, error codes, people, servers, times, ...) are filled
at random, wrapped in optional greetings and sign-offs and sprinkled with a
few typos. Some tickets carry a remark that belongs to another category and
some describe a problem two teams could own (a printer unreachable on the
network, an Outlook login failure, ...), so a text classifier lands around
90-95 % accuracy rather than 100 %.

With ``drifted=True`` the stream imitates later production traffic: the
category mix shifts (:data:`DRIFTED_CATEGORY_SHARES`: more Security and
Network, much less Software), new products and phrasings appear (a VPN client
migration to Zscaler, an MFA/phishing wave with Okta Verify and QR codes, new
applications such as Workday or Copilot) and, by default, the timestamps
start right after the normal nine-month period.

Same arguments always give the same tickets (and a byte-identical CSV).
"""

from __future__ import annotations

import calendar
import csv
import datetime
import os
import pathlib
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from types import MappingProxyType

__all__ = [
    "CATEGORIES",
    "CATEGORY_SHARES",
    "COLUMNS",
    "DRIFTED_CATEGORY_SHARES",
    "DemoTicket",
    "generate_tickets",
    "write_demo_csv",
]

CATEGORIES: tuple[str, ...] = (
    "Network",
    "Hardware",
    "Software",
    "Access",
    "Database",
    "Security",
    "Email",
    "Printing",
)

#: Base class weights of the normal stream; largest / smallest = 15.
CATEGORY_SHARES: Mapping[str, float] = MappingProxyType(
    {
        "Network": 16.0,
        "Hardware": 13.0,
        "Software": 30.0,
        "Access": 22.0,
        "Database": 3.0,
        "Security": 5.0,
        "Email": 9.0,
        "Printing": 2.0,
    }
)

#: Class weights of the drifted stream: Security and Network up, Software down.
DRIFTED_CATEGORY_SHARES: Mapping[str, float] = MappingProxyType(
    {
        "Network": 24.0,
        "Hardware": 10.0,
        "Software": 6.0,
        "Access": 18.0,
        "Database": 4.0,
        "Security": 22.0,
        "Email": 12.0,
        "Printing": 4.0,
    }
)

COLUMNS: tuple[str, ...] = ("ticket_id", "created_at", "subject", "description", "category")

_DEFAULT_START = datetime.date(2025, 1, 1)
_DEFAULT_MONTHS = 9
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class DemoTicket:
    """One synthetic ticket; field order matches :data:`COLUMNS`."""

    ticket_id: str
    created_at: str
    subject: str
    description: str
    category: str


@dataclass(frozen=True)
class _Issue:
    """One kind of problem: subject phrasings and matching description openers."""

    subjects: tuple[str, ...]
    bodies: tuple[str, ...]


@dataclass(frozen=True)
class _CategoryText:
    """Templates for one category; ``drift_issues`` only occur in the drifted stream."""

    issues: tuple[_Issue, ...]
    details: tuple[str, ...]
    asides: tuple[str, ...]
    drift_issues: tuple[_Issue, ...]


# --------------------------------------------------------------------------- slots

_FIRST_NAMES = (
    "Anna",
    "Tom",
    "Priya",
    "Marco",
    "Lena",
    "David",
    "Sofia",
    "Jonas",
    "Mei",
    "Carlos",
    "Fatima",
    "Oliver",
    "Chloé",
    "Łukasz",
    "Aisha",
    "Ben",
    "Ingrid",
    "Raj",
    "Hannah",
    "Mateo",
    "Yuki",
    "Grace",
    "Emre",
    "Noah",
)
_SURNAMES = (
    "Schmidt",
    "Novak",
    "Okafor",
    "Rossi",
    "Jensen",
    "Kowalski",
    "Müller",
    "Patel",
    "Nguyen",
    "García",
    "O'Brien",
    "Lindqvist",
    "Haddad",
)

_SLOTS: Mapping[str, tuple[str, ...]] = {
    "user": _FIRST_NAMES,
    "surname": _SURNAMES,
    "sender": _FIRST_NAMES,
    "sender_surname": _SURNAMES,
    "agent": ("Mark", "Jana", "Luis", "Claire", "Tobias"),
    "colleague": (
        "Sarah",
        "Michael",
        "Julia",
        "Ahmed",
        "Elena",
        "Peter",
        "Nina",
        "Kenji",
        "Laura",
        "Stefan",
        "Olga",
        "James",
    ),
    "dept": (
        "Finance",
        "HR",
        "Sales",
        "Marketing",
        "Logistics",
        "Legal",
        "Customer Support",
        "Engineering",
        "Procurement",
        "Facilities",
    ),
    "building": (
        "HQ North",
        "HQ South",
        "Building A",
        "Building C",
        "the Riverside office",
        "Warehouse 2",
        "the Lyon office",
        "the Leeds branch",
        "the Innovation Lab",
    ),
    "floor": ("ground floor", "1st floor", "2nd floor", "3rd floor", "4th floor", "5th floor"),
    "room": (
        "meeting room Aurora",
        "meeting room Everest",
        "room 2.14",
        "room 3.07",
        "the training room",
        "the boardroom",
        "reception",
        "the canteen",
    ),
    "desk": ("2-14", "3-27", "4-08", "G-11", "1-32", "5-03"),
    "time": (
        "this morning",
        "since about 9:30",
        "since yesterday afternoon",
        "since Monday",
        "since around 14:00",
        "after lunch",
        "since the reboot last night",
        "for two days now",
        "since 8:15 today",
    ),
    "date_word": ("Monday", "next Monday", "the 1st", "Wednesday", "Friday"),
    "hour": ("10:00", "11:30", "14:00", "15:30", "16:00"),
    "ext": ("4411", "2380", "5102", "3367", "7725"),
    "n_people": ("3", "5", "8", "12", "20"),
    "laptop": (
        "Dell Latitude 5420",
        "Dell Latitude 5530",
        "Lenovo ThinkPad T14",
        "Lenovo ThinkPad X1 Carbon",
        "HP EliteBook 840 G8",
        "MacBook Pro 14",
        "HP ProBook 450",
    ),
    "peripheral": (
        "docking station",
        "external monitor",
        "wireless keyboard",
        "mouse",
        "headset",
        "webcam",
        "USB-C dock",
        "second monitor",
    ),
    "monitor": ("Dell P2422H", "LG 27UL500", "Samsung S24", "HP E24"),
    "asset": ("AT-10432", "AT-20871", "AT-11764", "LT-3391", "LT-5520"),
    "hw_error": ("2000-0142", "2000-0511", "PSA 0x01", "SMART failure predicted"),
    "app": (
        "Excel",
        "Word",
        "SAP GUI",
        "Salesforce",
        "Jira",
        "Confluence",
        "Adobe Acrobat",
        "AutoCAD",
        "Zoom",
        "Power BI",
        "Tableau",
        "Visual Studio Code",
        "Chrome",
        "OneDrive",
        "Teams",
    ),
    "addin": ("Salesforce", "Adobe PDF", "Power Pivot", "Jira", "DocuSign"),
    "sw_error": ("0x80070005", "0xc0000142", "0x80070643", "error 1603", "APPCRASH", "0x87D00324"),
    "version": ("16.0.17328", "2.4.1", "5.12", "2024 R2", "11.3"),
    "server": ("srv-fs01", "srv-fs02", "app-prd-03", "web-prd-01", "dc02", "citrix-gw01"),
    "share": ("\\\\srv-fs01\\projects", "\\\\srv-fs02\\finance", "the S: drive", "the P: drive"),
    "ssid": ("CORP-WIFI", "CORP-SECURE", "GUEST-WIFI", "LAB-IOT"),
    "switch": ("switch SW-B2-03", "access point AP-3F-12", "access point AP-GF-02", "the floor switch"),
    "net_error": (
        "DNS_PROBE_FINISHED_NXDOMAIN",
        "ERR_CONNECTION_TIMED_OUT",
        "No internet, secured",
        "Request timed out",
        "Limited connectivity",
    ),
    "vpn_client": ("Cisco AnyConnect", "FortiClient"),
    "system": (
        "SAP",
        "Salesforce",
        "the HR portal",
        "the Finance shared drive",
        "the Marketing SharePoint site",
        "Jira project OPS",
        "Confluence space PMO",
        "the CRM",
        "the Power BI workspace Sales",
        "the expenses tool",
    ),
    "username": ("anna.k", "tnovak", "p.patel", "mrossi", "l.jensen", "dokafor", "s.garcia", "jmueller"),
    "mfa_app": ("Microsoft Authenticator", "the SMS code"),
    "db_engine": ("SQL Server", "Oracle", "PostgreSQL", "MySQL"),
    "db_server": ("sql-prd-02", "sql-rpt-01", "ora-fin-01", "pg-crm-03"),
    "db_name": ("CRM_PROD", "FINANCE_DW", "HR_REPORTING", "INVENTORY", "ORDERS_DB", "DWH_STAGE"),
    "db_error": (
        "ORA-12541: TNS:no listener",
        "ORA-01017: invalid username/password",
        "Msg 1205, transaction was deadlocked",
        "SQLSTATE 08001",
        "Timeout expired",
        "FATAL: too many connections",
    ),
    "report": (
        "the daily sales report",
        "the month-end P&L report",
        "the inventory dashboard",
        "the HR headcount report",
    ),
    "av": ("Microsoft Defender", "Sophos"),
    "malware": (
        "Trojan:Win32/Wacatac",
        "PUA:Win32/Presenoker",
        "Behavior:Win32/Persistence",
        "HackTool:Win32/Mimikatz",
    ),
    "phish_sender": (
        "payroll-update@secure-hr-portal.com",
        "it-helpdesk@micros0ft-support.net",
        "invoice@dhl-tracking-info.com",
        "ceo.office.private@gmail.com",
    ),
    "mailbox": (
        "the sales@ shared mailbox",
        "the support@ mailbox",
        "the Finance-AP shared mailbox",
        "the recruiting@ mailbox",
    ),
    "mail_error": (
        "0x800CCC0E",
        "550 5.1.1 recipient rejected",
        "552 message size exceeds limit",
        "554 5.7.1 relay access denied",
        "NDR 5.4.1",
    ),
    "dl": ("DL-Sales-EMEA", "DL-Finance-All", "DL-Project-Phoenix", "DL-Facilities"),
    "customer": ("Contoso", "Fabrikam", "Northwind", "Globex", "Initech"),
    "printer": (
        "HP LaserJet M607",
        "Canon imageRUNNER C3530",
        "Xerox VersaLink C405",
        "Ricoh IM C3000",
        "Brother HL-L6200",
    ),
    "printer_id": ("PRN-B2-03", "PRN-HQN-1F", "PRN-WH2-LBL", "PRN-3F-COLOR", "PRN-LEGAL-01"),
    "print_error": (
        "a paper jam in tray 2",
        "toner low",
        "error 49.4C02",
        "a paper jam in the fuser",
        "load tray 1 with A4",
    ),
}

# Pools the drifted stream replaces: new products next to (or instead of) the old ones.
_DRIFT_SLOTS: Mapping[str, tuple[str, ...]] = {
    "vpn_client": ("Zscaler Client Connector",),
    "mfa_app": ("Okta Verify", "Okta Verify", "Microsoft Authenticator"),
    "new_laptop": ("Dell Latitude 7450", "Dell Latitude 7450", "Surface Laptop 7"),
    "laptop": _SLOTS["laptop"] + ("Dell Latitude 7450", "Surface Laptop 7"),
    "app": _SLOTS["app"] + ("Workday", "Microsoft Copilot", "Coupa", "Miro", "Workday"),
    "db_engine": _SLOTS["db_engine"] + ("Snowflake", "Azure SQL Managed Instance"),
    "av": ("Microsoft Defender", "CrowdStrike Falcon"),
}

# ------------------------------------------------------------------ category text

_TEXT: Mapping[str, _CategoryText] = {
    "Network": _CategoryText(
        issues=(
            _Issue(
                (
                    "No internet on the {floor} in {building}",
                    "Network down on the {floor}",
                    "No network at desk {desk}",
                ),
                (
                    "Since {time} I have no network connection at my desk on the {floor} of {building}.",
                    "{switch} seems to be down, nobody on the {floor} of {building} has a connection.",
                ),
            ),
            _Issue(
                ("Wi-Fi keeps dropping in {room}", "Unstable wifi in {building}", "{ssid} disconnects all the time"),
                (
                    "The Wi-Fi in {room} keeps dropping every couple of minutes and I have to reconnect to {ssid} each time.",
                    "My laptop loses {ssid} whenever I walk from my desk to {room}, and it takes ages to reconnect.",
                ),
            ),
            _Issue(
                ("{vpn_client} won't connect", "VPN not connecting from home", "Cannot connect to VPN"),
                (
                    '{vpn_client} fails to connect from home with "{net_error}".',
                    '{vpn_client} hangs at "Connecting..." and then says the secure gateway cannot be reached.',
                ),
            ),
            _Issue(
                ("VPN disconnects every few minutes", "VPN keeps dropping", "{vpn_client} unstable"),
                ("{vpn_client} drops the connection every 5-10 minutes and my calls and remote sessions freeze.",),
            ),
            _Issue(
                ("Very slow network {time}", "Network extremely slow", "Slow connection in {building}"),
                (
                    "The network is extremely slow {time}, downloading a 20 MB file takes several minutes.",
                    "Everything on the network crawls, opening {share} takes minutes instead of seconds.",
                ),
            ),
            _Issue(
                ("Cannot reach {server}", "{server} not reachable", "Network share {share} not reachable"),
                (
                    "Pinging {server} times out and tracert stops at the first hop.",
                    'When I try to open {share} I get "{net_error}", although the internet itself works.',
                ),
            ),
            _Issue(
                ("LAN port not working at desk {desk}", "Dead network port in {room}", "Ethernet not working"),
                (
                    "The network port at desk {desk} seems dead, the link light never comes on.",
                    "The wall port in {room} gives no connection, the laptop says the network cable is unplugged.",
                ),
            ),
            _Issue(
                ("{ssid} not showing up", "Cannot connect to {ssid}", "Wi-Fi connected but no internet"),
                (
                    'My laptop shows "{net_error}" on {ssid} while my phone on the same Wi-Fi is fine.',
                    "{ssid} does not appear in the list of wireless networks on my laptop anymore.",
                ),
            ),
            _Issue(
                ("DNS issue - websites not loading", "Websites not resolving", "Intranet does not load"),
                (
                    "Websites only load after several retries, it looks like a DNS problem.",
                    'The intranet and several external sites fail with "DNS_PROBE_FINISHED_NXDOMAIN".',
                ),
            ),
            _Issue(
                ("Packet loss on video calls", "Calls keep freezing - bad connection", "High latency in {building}"),
                (
                    "Video calls freeze and drop because of packet loss, a speed test shows 2 Mbit/s instead of the usual 300.",
                ),
            ),
            _Issue(
                ("Intranet unreachable over VPN", "Connected to VPN but no internal sites"),
                ("The VPN connects but I can't reach any internal sites like the intranet or {server}.",),
            ),
        ),
        details=(
            "Colleagues sitting next to me have the same problem.",
            "I already tried a different cable and another wall port.",
            "ipconfig shows an address starting with 169.254, so no DHCP lease.",
            "It only happens on wireless, the wired connection is fine.",
            "The issue started after the office move last week.",
            "The signal shows full bars but nothing loads.",
            "Flushing DNS and renewing the IP address did not help.",
            "I'm working remotely today, so I depend on the VPN.",
        ),
        asides=(
            "The Wi-Fi was also a bit slow today, not sure if related.",
            "I'm on the VPN from home, in case that matters.",
            "My connection dropped a few times this morning as well.",
        ),
        drift_issues=(
            _Issue(
                ("Zscaler Client Connector shows captive portal detected", "Zscaler stuck on captive portal"),
                ('{vpn_client} keeps showing "Captive portal detected" on hotel Wi-Fi and nothing loads.',),
            ),
            _Issue(
                ("Internal sites unreachable since the VPN migration", "Cannot reach {server} after Zscaler rollout"),
                ("Since the migration from AnyConnect to {vpn_client} I can't reach {server} from home.",),
            ),
            _Issue(
                ("Private access app segment for {server} not reachable", "ZPA: app segment unavailable"),
                ("The new zero trust client says the private access app segment for {server} is unavailable.",),
            ),
            _Issue(
                ("Zscaler blocks the supplier portal", "Zscaler block page for a business site"),
                ("A Zscaler block page appears for our supplier portal, although it worked last week.",),
            ),
            _Issue(
                ("New VPN client kills home internet", "Zscaler Client Connector breaks my home Wi-Fi"),
                ("After the forced update of {vpn_client} my home internet only works when I pause it.",),
            ),
        ),
    ),
    "Hardware": _CategoryText(
        issues=(
            _Issue(
                ("{laptop} won't power on", "Laptop dead - no power", "Laptop does not start"),
                ("My {laptop} does not turn on anymore, the power LED blinks amber three times.",),
            ),
            _Issue(
                ("Broken screen on my {laptop}", "Cracked laptop display", "Laptop screen damaged"),
                ("The screen of my {laptop} has a crack in the lower left corner after it fell off the desk.",),
            ),
            _Issue(
                ("{peripheral} not detected", "{peripheral} not recognised", "USB devices not working"),
                ("The {peripheral} is not recognised when I plug it in, I tried all USB ports.",),
            ),
            _Issue(
                ("Laptop battery drains very fast", "Battery problem on {laptop}", "Battery not holding charge"),
                ("The battery goes from 100% to 20% in about an hour, even with only {app} open.",),
            ),
            _Issue(
                ("Keyboard keys stuck on {laptop}", "Laptop keyboard faulty", "Some keys not working"),
                ("Several keys on the keyboard (E, R and the space bar) stick or don't register.",),
            ),
            _Issue(
                ("Second monitor flickering", "External monitor goes black", "{monitor} monitor flickers"),
                ("My external {monitor} monitor flickers and goes black every few minutes.",),
            ),
            _Issue(
                ("Laptop overheating and fan very loud", "Fan noise and heat on {laptop}"),
                ("The fan runs at full speed all the time and the bottom of the laptop gets very hot.",),
            ),
            _Issue(
                (
                    "Docking station not charging laptop",
                    "Dock problem - laptop not charging",
                    "Request: replacement {peripheral}",
                ),
                (
                    "The docking station stopped charging the laptop, the monitors connected to it still work.",
                    "My {peripheral} is broken and I need a replacement, the cable connector came off.",
                ),
            ),
            _Issue(
                (
                    "New starter needs laptop and {peripheral}",
                    "Hardware for new colleague in {dept}",
                    "Laptop request for new hire",
                ),
                (
                    "We have a new colleague starting in {dept} on {date_word} who needs a laptop, docking station and headset.",
                ),
            ),
            _Issue(
                ("Webcam shows black image", "Camera not working in calls", "Built-in webcam broken"),
                ("The built-in webcam only shows a black image in every app, the privacy shutter is open.",),
            ),
            _Issue(
                ("Headset microphone not working", "People can't hear me - headset", "Headset broken"),
                ("The microphone of my headset is not picked up, people can't hear me in calls.",),
            ),
            _Issue(
                ("Laptop makes clicking noise", "Possible disk failure on {laptop}", "Touchpad acting up"),
                (
                    "The laptop makes a clicking noise and freezes for a few seconds, I'm worried the disk is failing.",
                    "The touchpad of my {laptop} jumps around and clicks on its own.",
                ),
            ),
        ),
        details=(
            "The asset tag is {asset}, the serial number is on the sticker underneath.",
            "I tried it at another desk, same result.",
            "The device is about four years old.",
            "Can someone bring a loaner device to the {floor} of {building}?",
            "The diagnostics at boot show error code {hw_error}.",
            "I can drop it off at the IT counter in {building} any time.",
            "It should still be under warranty as far as I know.",
        ),
        asides=(
            "My laptop has also been running hot lately, but that's a separate thing.",
            "I'm using a loaner laptop at the moment.",
            "I already unplugged the docking station and plugged it back in.",
        ),
        drift_issues=(
            _Issue(
                ("{new_laptop} won't wake from sleep", "Refresh laptop does not wake up when docked"),
                (
                    "I received a {new_laptop} in the hardware refresh last week and it does not wake up from sleep when docked.",
                ),
            ),
            _Issue(
                ("New Thunderbolt 4 dock WD22TB4 drops monitors", "WD22TB4 dock loses displays"),
                ("The new WD22TB4 Thunderbolt 4 dock loses both monitors several times a day.",),
            ),
            _Issue(
                ("Refresh laptop has no USB-A ports, need an adapter", "Adapter needed for {new_laptop}"),
                ("My {new_laptop} from the refresh only has USB-C ports and my {peripheral} needs a USB-A adapter.",),
            ),
            _Issue(
                ("Hot desk monitor not detected by the new laptop", "Hot desk screens don't work with {new_laptop}"),
                ("The hot desk monitors in {building} are not detected by the new {new_laptop} over USB-C.",),
            ),
        ),
    ),
    "Software": _CategoryText(
        issues=(
            _Issue(
                ("{app} crashes on startup", "{app} closes right after opening", "Error {sw_error} when opening {app}"),
                (
                    "{app} closes immediately after the splash screen, the event viewer shows {sw_error}.",
                    "{app} shows a blank white window after login and then crashes, reinstalling did not help.",
                ),
            ),
            _Issue(
                ("{app} keeps freezing", "{app} not responding", "{app} hangs when opening files"),
                ('{app} freezes for about a minute whenever I open a larger file and then shows "Not responding".',),
            ),
            _Issue(
                ("Install request: {app}", "Need {app} installed", "Please install {app}"),
                (
                    "Could you please install {app} on my laptop? My manager {colleague} approved it.",
                    "I need {app} for a new project, it is not available in Software Center.",
                ),
            ),
            _Issue(
                ("Update for {app} fails with {sw_error}", "{app} update error", "Software Center installation stuck"),
                (
                    "Installing the latest update of {app} from Software Center fails with {sw_error}.",
                    'The installation of {app} in Software Center has been stuck at "Downloading 0%" {time}.',
                ),
            ),
            _Issue(
                ("{app} license expired", "{app} in read-only mode - licence", "License error in {app}"),
                ("When I open {app} it says my license has expired and switches to read-only mode.",),
            ),
            _Issue(
                ("Macros disabled in Excel", "Excel blocks macros in budget template"),
                (
                    'Excel blocks the macros in our budgeting template with "Microsoft has blocked macros from running".',
                ),
            ),
            _Issue(
                ("{app} very slow after update", "{app} sluggish since the latest version"),
                ("Since the last update {app} is extremely slow, scrolling through a document takes seconds.",),
            ),
            _Issue(
                ("{addin} add-in missing in {app}", "{addin} plugin disappeared from {app}"),
                ("The {addin} add-in disappeared from the ribbon in {app}.",),
            ),
            _Issue(
                ("Cannot open PDF files", "Adobe Acrobat not opening PDFs"),
                ("Double-clicking a PDF opens nothing, Adobe Acrobat seems to be broken.",),
            ),
            _Issue(
                ("Windows update stuck at 35%", "Windows Update keeps failing", "Pending restart loop after updates"),
                ("Windows Update has been stuck at 35% for hours and keeps asking me to restart.",),
            ),
            _Issue(
                ("Need older version of {app}", "{app} version {version} required"),
                ("I need version {version} of {app} for a customer project, the current one can't open their files.",),
            ),
        ),
        details=(
            "I already tried repairing it from Apps & Features.",
            "Clearing the cache and reinstalling did not change anything.",
            "Other colleagues in {dept} have the same version and it works for them.",
            "I need it for a deadline on {date_word}.",
            "A screenshot of the error is attached.",
            "It worked fine until the last update.",
        ),
        asides=(
            "{app} also crashed once today, but it came back after a restart.",
            "I also need {app} updated at some point, no rush.",
            "Windows keeps asking me to install updates as well.",
        ),
        drift_issues=(
            _Issue(
                ("Request Microsoft Copilot license", "Copilot licence for {app}"),
                ("I'd like a Microsoft Copilot license for {app}, my manager {colleague} approved it.",),
            ),
            _Issue(
                ("Workday expenses module not loading", "Workday receipts page stuck"),
                ("The new Workday expenses module shows a spinning wheel and never loads the receipts page.",),
            ),
            _Issue(
                ("New Teams client crashes, classic Teams gone", "New Teams crashes on screen share"),
                ("Since classic Teams was removed the new Teams client crashes when I share my screen.",),
            ),
            _Issue(
                ("Coupa punch-out catalogue shows an error", "Coupa error {sw_error}"),
                ('The Coupa punch-out to our office supplies catalogue fails with "{sw_error}".',),
            ),
            _Issue(
                ("Miro board export fails", "Miro PDF export broken"),
                ("Exporting a Miro board to PDF fails halfway for large boards.",),
            ),
        ),
    ),
    "Access": _CategoryText(
        issues=(
            _Issue(
                ("Password reset needed", "Forgot my password", "Please reset my password"),
                ("I forgot my password after the holidays and now my account is locked.",),
            ),
            _Issue(
                ("Account locked out", "Locked out of my account", "Login keeps failing"),
                ("My account got locked after I changed my password, probably my phone still uses the old one.",),
            ),
            _Issue(
                ("Access request: {system}", "Please grant access to {system}", "Need access to {system}"),
                ("Please grant me access to {system}, my manager {colleague} has approved the request.",),
            ),
            _Issue(
                ("Cannot log in to {system}", "Access denied in {system}", "No permission for {system}"),
                (
                    'When I log in to {system} I get "Access denied - you don\'t have permission to view this resource".',
                ),
            ),
            _Issue(
                ("Need access to {share}", "Permission denied on {share}", "Write access to {share}"),
                (
                    "I need read and write permissions on {share} for the audit project.",
                    "I can open files on {share} but can't save anything, it says I need permission.",
                ),
            ),
            _Issue(
                ("MFA not working on new phone", "Cannot complete MFA sign-in", "Authenticator moved to new phone"),
                ("I got a new phone and {mfa_app} no longer prompts me, so I can't complete the sign-in.",),
            ),
            _Issue(
                ("New employee account setup for {user} {surname}", "Onboarding: accounts for {user} {surname}"),
                (
                    "{user} {surname} starts in {dept} on {date_word} and needs a Windows account, email and access to {system}.",
                ),
            ),
            _Issue(
                (
                    "Remove access for leaver {user} {surname}",
                    "Offboarding {user} {surname}",
                    "Disable account of leaver",
                ),
                (
                    "{user} {surname} left the company last Friday, please disable the account and remove access to {system}.",
                ),
            ),
            _Issue(
                ("Password expired, cannot change it", "Password change not accepted"),
                (
                    "My password expired and the change password screen says the new one doesn't meet the complexity requirements.",
                    "The self-service password reset portal says my account is not registered.",
                ),
            ),
            _Issue(
                ("Admin rights needed to install a driver", "Temporary local admin rights"),
                ("I need local admin rights for a day to install a driver for a lab device.",),
            ),
            _Issue(
                ("Read-only access to {system}, need edit rights", "Edit permission for {system}"),
                ("I only have read-only rights in {system} but I need to edit entries for my new role.",),
            ),
            _Issue(
                ("SSO not working for {system}", "{system} keeps asking for credentials"),
                ("{system} keeps asking for my credentials even though single sign-on used to work.",),
            ),
        ),
        details=(
            "My username is {username}.",
            "The approval from {colleague} is in the email below.",
            "I need this before the quarterly close.",
            "The same access as {colleague} from my team would be fine.",
            "I tried the self-service portal first but it never sent a code.",
            "I'm working from home, so I can't come to the IT desk in {building}.",
        ),
        asides=(
            "I had to reset my password last week as well.",
            "My account was locked yesterday, in case that's related.",
            "I can still log in to everything else.",
        ),
        drift_issues=(
            _Issue(
                ("Workday role missing after org change", "Cannot approve time off in Workday"),
                ("After the org change my Workday manager role is missing and I can't approve my team's time off.",),
            ),
            _Issue(
                ("Okta SSO loop for {system}", "Redirect loop when signing in with Okta"),
                ("Logging in to {system} through Okta ends in a redirect loop back to the sign-in page.",),
            ),
            _Issue(
                ("Entra ID access package request stuck", "Access package for {system} pending"),
                ("My Entra ID access package request for {system} has been pending approval for a week.",),
            ),
            _Issue(
                ("SailPoint access review - remove my old roles", "Old roles shown in SailPoint review"),
                (
                    "The SailPoint access review shows roles from my previous team that I no longer need, please remove them.",
                ),
            ),
            _Issue(
                ("Okta Verify not set up on new phone", "Re-register Okta Verify"),
                ("I replaced my phone and now {mfa_app} isn't registered, so I can't sign in to anything.",),
            ),
        ),
    ),
    "Database": _CategoryText(
        issues=(
            _Issue(
                (
                    "{db_engine} connection timeout on {db_server}",
                    "{db_error} when connecting",
                    "App cannot connect to {db_name}",
                ),
                ('Our application can\'t connect to {db_name} on {db_server}, it fails with "{db_error}".',),
            ),
            _Issue(
                ("Report query very slow on {db_name}", "Slow query on {db_server}", "Performance issue in {db_name}"),
                ("The query behind {report} used to run in 30 seconds and now takes over 20 minutes.",),
            ),
            _Issue(
                ("Deadlocks in {db_name}", "Batch import deadlocking on {db_server}"),
                ('We see repeated deadlocks in {db_name} during the batch import, the job log shows "{db_error}".',),
            ),
            _Issue(
                ("Need read access to the {db_name} database", "DB read-only login for {db_name}"),
                ("I need read-only access to {db_name} in {db_engine} for reporting, {colleague} approved it.",),
            ),
            _Issue(
                ("Restore request for a table in {db_name}", "Deleted rows in {db_name} - restore needed"),
                (
                    "Someone deleted rows from the customer table in {db_name} by mistake, can we restore it from last night's backup?",
                ),
            ),
            _Issue(
                ("Nightly ETL job failed", "ETL load of {db_name} failed", "{report} empty - ETL failure"),
                (
                    "The nightly ETL job that loads {db_name} failed at the staging step and {report} is empty this morning.",
                ),
            ),
            _Issue(
                ("Disk for data files almost full on {db_server}", "{db_engine} storage running out"),
                ("The {db_engine} instance on {db_server} reports that the disk for the data files is almost full.",),
            ),
            _Issue(
                ("Database backup failed", "Backup job error on {db_server}"),
                ('The backup job for {db_name} on {db_server} failed last night with "{db_error}".',),
            ),
            _Issue(
                ("Duplicate records in {db_name}", "Data quality issue in {db_name}"),
                ("We found duplicate order records in {db_name} after yesterday's load.",),
            ),
            _Issue(
                ("Stored procedure timing out in {db_name}", "usp_UpdateStock timeout"),
                ("The stored procedure usp_UpdateStock in {db_name} times out since the last release.",),
            ),
            _Issue(
                ("{db_engine} service restarted on {db_server}", "Database instance restarted unexpectedly"),
                (
                    "The {db_engine} service on {db_server} restarted unexpectedly and several apps lost their connection.",
                ),
            ),
        ),
        details=(
            "The job runs under the service account svc_etl.",
            "The execution plan shows a full table scan on the orders table.",
            "It affects {report}, which management needs by {hour}.",
            "No schema changes were deployed as far as we know.",
            "The listener port is open from the app server, we checked with telnet.",
        ),
        asides=(
            "The database seemed slow this morning as well.",
            "We also see some SQL timeouts in the logs.",
            "{report} also didn't refresh today.",
        ),
        drift_issues=(
            _Issue(
                ("Snowflake warehouse suspended, dashboards empty", "Snowflake: no data in dashboards"),
                ("The Snowflake warehouse for {db_name} is suspended and all our dashboards show no data.",),
            ),
            _Issue(
                ("dbt run failing on staging models", "Nightly dbt job broken"),
                (
                    "The nightly dbt run fails on the staging models with a compilation error since the new source was added.",
                ),
            ),
            _Issue(
                (
                    "Azure SQL Managed Instance migration - connection errors",
                    "Login timeouts after move to Azure SQL MI",
                ),
                ("Since {db_name} was migrated to Azure SQL Managed Instance our app gets login timeouts.",),
            ),
            _Issue(
                ("Snowflake credits exceeded for {db_name}", "Snowflake queries queued"),
                ("We hit the Snowflake credit quota for {db_name} and all queries are queued.",),
            ),
        ),
    ),
    "Security": _CategoryText(
        issues=(
            _Issue(
                (
                    "Suspicious email from {phish_sender}",
                    "Phishing? Email asking me to verify my password",
                    "Possible phishing mail",
                ),
                (
                    "I received an email from {phish_sender} asking me to confirm my password via a link, it looks like phishing.",
                    "An email from {phish_sender} wants me to open an attached invoice, I reported it with the Report Phishing button.",
                ),
            ),
            _Issue(
                ("Clicked a link in a suspicious email", "Entered my password on a fake page"),
                (
                    "I clicked a link in an email that looked like a DHL delivery notice and entered my credentials before I realised it was fake.",
                ),
            ),
            _Issue(
                ("{av} alert: {malware}", "Possible malware on my laptop", "Virus warning on my PC"),
                ("{av} just showed an alert for {malware} and quarantined a file from my Downloads folder.",),
            ),
            _Issue(
                ("Found a USB stick in {room}", "Unknown USB drive found"),
                ('Someone found a USB stick labelled "Salaries 2025" in {room} and handed it to reception.',),
            ),
            _Issue(
                ("Laptop stolen from my car", "Lost laptop - please lock it", "Stolen {laptop}"),
                ("My bag with my {laptop} was stolen from my car last night, I already filed a police report.",),
            ),
            _Issue(
                ("Strange sign-in notifications", "Sign-in alerts from abroad", "Someone else using my account?"),
                ("I got several sign-in alerts from countries I have never been to.",),
            ),
            _Issue(
                ("Caller pretending to be IT", "Social engineering call"),
                ("A person called claiming to be from IT and asked for my password and MFA code.",),
            ),
            _Issue(
                ("Ransomware warning popup", "Files encrypted - ransom note"),
                ("A popup says all my files are encrypted and asks for a payment in Bitcoin.",),
            ),
            _Issue(
                ("Unknown forwarding rule in my mailbox", "Mails forwarded to external address"),
                ("I noticed an inbox rule forwarding all my emails to an external address that I did not create.",),
            ),
            _Issue(
                ("Browser hijacked", "Unknown browser extensions installed"),
                ("The browser keeps redirecting to strange sites and new extensions appeared that I did not install.",),
            ),
            _Issue(
                ("Supplier bank details changed - fraud?", "Suspected business email compromise"),
                (
                    "We received an invoice from a known supplier with changed bank details, I suspect business email compromise.",
                ),
            ),
        ),
        details=(
            "I have not clicked anything else since then.",
            "I disconnected the laptop from the network as a precaution.",
            "Please tell me what I should do next.",
            "I changed my password right away.",
            "Several colleagues in {dept} noticed the same thing.",
        ),
        asides=(
            "There was also a weird email in my inbox today that I deleted.",
            "I hope this is not a virus.",
            "Could this be a security issue?",
        ),
        drift_issues=(
            _Issue(
                ("QR code phishing email about MFA re-registration", "Quishing email - re-register MFA"),
                (
                    "I received an email with a QR code asking me to re-register my MFA before Friday, it looks like quishing.",
                ),
            ),
            _Issue(
                ("Dozens of Okta Verify push requests I didn't trigger", "MFA fatigue attack?"),
                (
                    "My phone got more than 20 {mfa_app} push requests at night that I didn't trigger, I denied all of them.",
                ),
            ),
            _Issue(
                ("Quishing - parking fine letter with QR code", "Fake parking fines with QR codes"),
                (
                    "A letter with a QR code for a parking fine was left on cars in the {building} car park, it leads to a fake login page.",
                ),
            ),
            _Issue(
                ("Infostealer alert from EDR", "{av} flagged an infostealer"),
                ("{av} flagged an infostealer on my laptop after I installed a browser extension for PDF conversion.",),
            ),
            _Issue(
                ("Accidentally approved an MFA push", "Approved MFA request by mistake"),
                ("I accidentally approved an MFA push during the night, I think it was an MFA fatigue attack.",),
            ),
        ),
    ),
    "Email": _CategoryText(
        issues=(
            _Issue(
                ("Outlook not receiving emails", "No new mails since {time}", "Inbox not updating"),
                (
                    "Outlook has not received any new emails {time}, sending still works.",
                    'Outlook has been stuck on "Updating inbox" {time} and the folders don\'t sync.',
                ),
            ),
            _Issue(
                ("Mailbox full", "Mailbox quota exceeded", "Cannot send - mailbox over limit"),
                ("I get a warning that my mailbox is full and I can no longer send emails.",),
            ),
            _Issue(
                (
                    "Cannot send to external address - {mail_error}",
                    "Email to {customer} bounced",
                    "NDR when emailing {customer}",
                ),
                ('Emails to our customer {customer} bounce with "{mail_error}".',),
            ),
            _Issue(
                ("Access to shared mailbox", "Please add me to {mailbox}", "Shared mailbox permissions"),
                ("Please give me access to {mailbox}, I'm covering for {colleague} while they're on leave.",),
            ),
            _Issue(
                ("Out of office not working", "Automatic replies not sent"),
                ("My automatic replies are set up, but senders don't receive the out of office message.",),
            ),
            _Issue(
                ("Calendar invites not showing", "Meeting requests missing from calendar"),
                ("Meeting invites from {colleague} don't show up in my calendar, only in the inbox.",),
            ),
            _Issue(
                ("Emails going to junk", "Supplier mails land in junk folder"),
                ("Legitimate emails from our supplier end up in the junk folder even though I marked them as safe.",),
            ),
            _Issue(
                ("Signature missing in Outlook", "Email signature template gone"),
                ("My email signature disappeared after the Outlook update and the template can't be found.",),
            ),
            _Issue(
                ("Please update distribution list {dl}", "Add member to {dl}"),
                ("Please add {user} {surname} to the {dl} distribution list.",),
            ),
            _Issue(
                ("Outlook keeps asking for password", "Constant Outlook credential prompts"),
                ("Outlook keeps popping up the password prompt every few minutes although my password is correct.",),
            ),
            _Issue(
                ("Large attachments rejected", "Cannot send attachment - {mail_error}"),
                ('Emails with attachments larger than 10 MB fail with "{mail_error}".',),
            ),
            _Issue(
                ("Shared mailbox disappeared from Outlook", "{mailbox} missing after reimage"),
                ("{mailbox} no longer shows in Outlook after my PC was reimaged.",),
            ),
        ),
        details=(
            "I'm using the Outlook desktop app, webmail looks fine.",
            "The issue also happens on my phone.",
            "The customer is waiting for our offer, so it's quite urgent.",
            "I already tried starting Outlook in safe mode.",
            "The sender address was orders@{customer}.com.",
        ),
        asides=(
            "I also sent you an email about this yesterday.",
            "Outlook was also slow today.",
            "You can reply by email, I'm in meetings all day.",
        ),
        drift_issues=(
            _Issue(
                ("Mimecast holding emails from a customer", "Mails from {customer} stuck in Mimecast"),
                ("Mimecast is holding all emails from {customer} in quarantine since this week.",),
            ),
            _Issue(
                ("External sender banner breaks replies", "[EXTERNAL] tag repeated in replies"),
                (
                    "Since the new [EXTERNAL] banner was introduced, replies to customers look broken and the tag appears several times.",
                ),
            ),
            _Issue(
                ("DMARC rejection for our newsletter domain", "Newsletter rejected - DMARC"),
                ("Our newsletter is rejected by recipients because of a DMARC failure on the sending domain.",),
            ),
            _Issue(
                ("Shared mailbox missing after Exchange Online cutover", "Exchange Online: {mailbox} gone"),
                ("After the cutover to Exchange Online {mailbox} disappeared from Outlook.",),
            ),
        ),
    ),
    "Printing": _CategoryText(
        issues=(
            _Issue(
                (
                    "Printer {printer_id} offline",
                    "Cannot print to {printer_id}",
                    "Printer on the {floor} not available",
                ),
                ("The printer {printer_id} on the {floor} of {building} shows as offline on all our laptops.",),
            ),
            _Issue(
                ("Paper jam on the {floor}", "{printer} error", "Printer in {room} not working"),
                ("The {printer} in {room} reports {print_error} and won't print.",),
            ),
            _Issue(
                ("Print jobs stuck in queue", "Nothing comes out of the printer"),
                ('My print jobs stay in the queue with the status "Error - Printing" and nothing comes out.',),
            ),
            _Issue(
                ("Scan to email not working", "Scans not arriving"),
                ("Scan to email on the {printer} stopped working, the scans never arrive in my inbox.",),
            ),
            _Issue(
                ("Add printer on new laptop", "Install {printer_id} on my laptop"),
                ("I need {printer_id} added to my new laptop, I can't find it in the list.",),
            ),
            _Issue(
                ("Printing blank pages", "Toner replacement for {printer}", "Printer out of toner"),
                (
                    "The {printer} prints only blank pages although the toner was replaced yesterday.",
                    "The {printer} needs a new black toner cartridge, the display says toner low.",
                ),
            ),
            _Issue(
                ("Label printer printing misaligned", "Shipping labels shifted"),
                ("The Zebra label printer in Warehouse 2 prints the shipping labels shifted by about 1 cm.",),
            ),
            _Issue(
                ("Colour printing not available", "No colour option for {printer_id}"),
                ("Colour printing is greyed out in the print dialog for {printer_id}.",),
            ),
            _Issue(
                ("Printer prints garbage characters", "PDF prints garbled"),
                ("Printing a PDF from Adobe Acrobat takes forever and the printer outputs garbage characters.",),
            ),
        ),
        details=(
            "Other people on the floor can't print either.",
            "I already turned the printer off and on again.",
            "The printer's display shows {print_error}.",
            "We need to print contracts for a signing at {hour}.",
            "The asset tag on the printer is {asset}.",
        ),
        asides=(
            "I also couldn't print this morning.",
            "By the way, the printer on our floor is out of toner again.",
        ),
        drift_issues=(
            _Issue(
                ("uniFLOW Follow-Me print release not working", "Follow-Me printing: jobs not released"),
                (
                    "Since the switch to uniFLOW Follow-Me printing my jobs don't show up when I tap my badge at the printer.",
                ),
            ),
            _Issue(
                ("Badge not recognised at uniFLOW printer", "Card reader on {printer} not working"),
                ("The card reader on the {printer} doesn't recognise my badge, so I can't release my print jobs.",),
            ),
            _Issue(
                ("Jobs missing from Follow-Me queue", "Follow-Me queue loses my jobs"),
                (
                    "Jobs sent to the Follow-Me queue disappear after a few minutes, before I reach the printer on the {floor}.",
                ),
            ),
        ),
    ),
}

# Problems that two teams could own: each may be filed under either category,
# which is where a real classifier (and real agents) disagree.
_BORDERLINE: tuple[tuple[tuple[str, str], _Issue], ...] = (
    (
        ("Access", "Email"),
        _Issue(
            ("Cannot log in to Outlook on the web", "OWA says account disabled", "No access to my mailbox"),
            ("Outlook on the web says my account is disabled and I can't get to my mailbox.",),
        ),
    ),
    (
        ("Email", "Security"),
        _Issue(
            ("Lots of spam with attachments", "Spam wave in my inbox", "Strange mails from {phish_sender}"),
            ("Since {time} I get dozens of strange mails from {phish_sender} with zip attachments.",),
        ),
    ),
    (
        ("Network", "Printing"),
        _Issue(
            ("{printer_id} not reachable on the network", "Cannot ping printer {printer_id}"),
            ("I can't ping {printer_id} and its web page doesn't load, other devices on the {floor} seem fine.",),
        ),
    ),
    (
        ("Network", "Access"),
        _Issue(
            ("VPN login fails - credentials rejected", "{vpn_client} rejects my password"),
            ("{vpn_client} rejects my password although I can log in to my laptop with it.",),
        ),
    ),
    (
        ("Hardware", "Network"),
        _Issue(
            ("Wi-Fi adapter missing on {laptop}", "Laptop cannot find any wireless network"),
            (
                "The wireless adapter of my {laptop} disappeared from Device Manager, I can only get online with a cable.",
            ),
        ),
    ),
    (
        ("Hardware", "Software"),
        _Issue(
            ("{laptop} extremely slow", "Laptop very slow to boot", "PC slow since {time}"),
            ("My {laptop} has become really slow, it takes 10 minutes to boot and {app} lags all the time.",),
        ),
    ),
    (
        ("Software", "Email"),
        _Issue(
            ("Outlook crashes when opening attachments", "Outlook freezes on Excel attachments"),
            ("Outlook crashes every time I open an Excel attachment, the event log shows {sw_error}.",),
        ),
    ),
    (
        ("Access", "Database"),
        _Issue(
            ("Login failed for service account on {db_name}", "svc_report cannot log in to {db_server}"),
            (
                "Our report gets \"Login failed for user 'svc_report'\" on {db_name}, maybe the service account password expired.",
            ),
        ),
    ),
    (
        ("Software", "Printing"),
        _Issue(
            ("Printer driver for {printer} needed", "Cannot install driver for {printer_id}"),
            ("I need the driver for the {printer} installed, Windows can't find it and I have no admin rights.",),
        ),
    ),
    (
        ("Security", "Access"),
        _Issue(
            ("Password reset I didn't request", "Someone changed my password?", "Account compromised?"),
            (
                "I can't log in anymore and got a password reset email that I didn't request, I think someone took over my account.",
            ),
        ),
    ),
    (
        ("Software", "Access"),
        _Issue(
            ("No license assigned for {app}", "{app} says I'm not authorised"),
            ("{app} says my account is not licensed for this product, can you assign me a license?",),
        ),
    ),
    (
        ("Network", "Security"),
        _Issue(
            ("Website blocked by the proxy", "Firewall blocks a supplier site"),
            ('The web proxy blocks our new supplier\'s website as "malicious", but I need it for an order today.',),
        ),
    ),
    (
        ("Software", "Database"),
        _Issue(
            ("Power BI refresh fails", "Scheduled refresh error for {report}"),
            ("The scheduled refresh of {report} in Power BI fails with a data source error for {db_name}.",),
        ),
    ),
    (
        ("Hardware", "Printing"),
        _Issue(
            ("Scanner at reception broken", "Document scanner does not feed paper"),
            ("The document scanner at reception doesn't pull in the paper anymore and makes a grinding noise.",),
        ),
    ),
)


# Sentences that fit any ticket (effort made, impact, contact) and vague ones.
_TRIED = (
    "I already restarted my laptop.",
    "Restarting didn't help.",
    "I tried logging out and back in.",
    "I rebooted twice, no change.",
)
_IMPACT = (
    "This is blocking my work.",
    "The whole team of {n_people} people is affected.",
    "Not urgent, but annoying.",
    "I have a customer call at {hour} and need this fixed before then.",
    "This blocks our month-end closing.",
)
_CONTACT = (
    "You can reach me on extension {ext}.",
    "Please call me on Teams, I'm in the office until 17:00.",
    "I'm at desk {desk} on the {floor}.",
)
_GENERIC_EXTRAS = (_TRIED, _IMPACT, _CONTACT)
_VAGUE_BODIES = (
    "Nothing works since this morning, please call me.",
    "Same problem as last week again, see my previous ticket.",
    "Please see the screenshot attached.",
    "It happened again, same as last time.",
)
_GENERIC_SUBJECTS = (
    "Help needed",
    "Urgent issue",
    "Problem {time}",
    "Not working",
    "Quick question",
    "Issue on the {floor}",
)
_GREETINGS = ("Hi,\n\n", "Hello IT,\n\n", "Good morning team,\n\n", "Hi {agent},\n", "Hey, ", "Dear Service Desk,\n\n")
_SIGN_OFFS = (
    "\n\nThanks,\n{sender}",
    "\n\nBR {sender}",
    " Cheers, {sender}",
    "\n\nKind regards,\n{sender} {sender_surname}\n{dept}",
    "\n--\n{sender} {sender_surname} | {dept} | ext. {ext}",
    " Thanks in advance!",
)
_SUBJECT_PREFIXES = ("RE: ", "FW: ", "URGENT: ", "[{building}] ")

_HOUR_WEIGHTS = {8: 6, 9: 10, 10: 11, 11: 10, 12: 6, 13: 8, 14: 10, 15: 9, 16: 7, 17: 4}
_WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.95, 0.15, 0.1)  # Monday .. Sunday
_ASIDE_RATE = 0.22  # share of descriptions with a remark that belongs to another category
_BORDERLINE_RATE = 0.15  # share of tickets about a problem another team could own as well
_TYPO_WORD = re.compile(r"[A-Za-z]{4,}")


# ----------------------------------------------------------------------- helpers


def _check_positive_int(name: str, value: object) -> None:
    """Raise a one-line ValueError naming the argument unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _add_months(day: datetime.date, months: int) -> datetime.date:
    """Shift ``day`` by whole months, clamping the day of month (Jan 31 + 1 -> Feb 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _quotas(shares: Mapping[str, float], n_rows: int) -> dict[str, int]:
    """Split ``n_rows`` over the categories in proportion to ``shares`` (largest remainder)."""
    total = sum(shares.values())
    exact = {cat: shares[cat] * n_rows / total for cat in CATEGORIES}
    counts = {cat: int(value) for cat, value in exact.items()}
    by_remainder = sorted(CATEGORIES, key=lambda cat: (counts[cat] - exact[cat], CATEGORIES.index(cat)))
    for cat in by_remainder[: n_rows - sum(counts.values())]:
        counts[cat] += 1
    return counts


def _timestamps(rng: random.Random, n_rows: int, start: datetime.date, end: datetime.date) -> list[str]:
    """Draw ``n_rows`` sorted timestamps in [start, end): weekdays and office hours dominate."""
    days = [start + datetime.timedelta(days=i) for i in range((end - start).days)]
    day_weights = [_WEEKDAY_WEIGHTS[day.weekday()] for day in days]
    hours, hour_weights = list(_HOUR_WEIGHTS), list(_HOUR_WEIGHTS.values())
    stamps = []
    for day in rng.choices(days, weights=day_weights, k=n_rows):
        if day.weekday() < 5 and rng.random() < 0.9:
            hour = rng.choices(hours, weights=hour_weights)[0]
        else:
            hour = rng.randrange(24)
        moment = datetime.datetime.combine(day, datetime.time(hour, rng.randrange(60)))
        stamps.append(moment.strftime(_TIMESTAMP_FORMAT))
    return sorted(stamps)


class _SlotFiller:
    """Fills ``{slot}`` templates for one ticket; a slot keeps its value across the ticket."""

    def __init__(self, rng: random.Random, pools: Mapping[str, Sequence[str]]) -> None:
        self._rng = rng
        self._pools = pools
        self._values: dict[str, str] = {}

    def __call__(self, template: str) -> str:
        """Return ``template`` with every slot replaced by the ticket's value for it."""
        for _, name, _, _ in string.Formatter().parse(template):
            if name and name not in self._values:
                self._values[name] = self._rng.choice(self._pools[name])
        return template.format_map(self._values)


def _misspell(rng: random.Random, word: str) -> str:
    """Return ``word`` with one swapped, dropped or doubled letter (never the first one)."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _add_typos(rng: random.Random, text: str, rate: float) -> str:
    """Misspell each word of four or more letters with probability ``rate``."""
    return _TYPO_WORD.sub(lambda m: _misspell(rng, m.group()) if rng.random() < rate else m.group(), text)


def _subject(rng: random.Random, fill: _SlotFiller, issue: _Issue) -> str:
    """Build a subject line: mostly specific, sometimes generic, prefixed or oddly cased."""
    template = rng.choice(_GENERIC_SUBJECTS if rng.random() < 0.05 else issue.subjects)
    subject = fill(template)
    if rng.random() < 0.06:
        subject = fill(rng.choice(_SUBJECT_PREFIXES)) + subject
    if rng.random() < 0.05:
        subject = _add_typos(rng, subject, 0.3)
    casing = rng.random()
    if casing < 0.04:
        return subject.upper()
    if casing < 0.11:
        return subject.lower()
    return subject


def _body_sentences(rng: random.Random, details: Sequence[str], issue: _Issue) -> list[str]:
    """Pick the sentence templates of a description: one-liner, a few sentences or a paragraph."""
    core = rng.choice(_VAGUE_BODIES if rng.random() < 0.04 else issue.bodies)
    length = rng.random()
    if length < 0.2:
        return [core]
    if length < 0.7:
        sentences = [core, rng.choice(details)]
        if rng.random() < 0.5:
            sentences.append(rng.choice(rng.choice(_GENERIC_EXTRAS)))
        return sentences
    return [core, *rng.sample(details, k=4), *(rng.choice(pool) for pool in _GENERIC_EXTRAS)]


def _description(rng: random.Random, fill: _SlotFiller, topic: str, issue: _Issue) -> str:
    """Build a description about ``topic``: body sentences, maybe an aside from another
    category, greeting, sign-off and typos."""
    sentences = _body_sentences(rng, _TEXT[topic].details, issue)
    if rng.random() < _ASIDE_RATE:
        other = rng.choice([cat for cat in CATEGORIES if cat != topic])
        sentences.insert(rng.randrange(1, len(sentences) + 1), rng.choice(_TEXT[other].asides))
    body = " ".join(fill(sentence) for sentence in sentences)
    if len(sentences) == 1 and rng.random() < 0.3:
        body = body.rstrip(".")
    if rng.random() < 0.4:
        body = fill(rng.choice(_GREETINGS)) + body
    if rng.random() < 0.4:
        body += fill(rng.choice(_SIGN_OFFS))
    if rng.random() < 0.25:
        body = _add_typos(rng, body, 0.04)
    return body


def _ticket_text(
    rng: random.Random, category: str, drifted: bool, pools: Mapping[str, Sequence[str]]
) -> tuple[str, str]:
    """Return (subject, description) of one ticket.

    Some tickets are about a borderline problem shared with another category,
    worded like a ticket of either one; drifted tickets use the drift-only
    issues about half of the time.
    """
    topic = category
    if rng.random() < _BORDERLINE_RATE:
        owners, issue = rng.choice([entry for entry in _BORDERLINE if category in entry[0]])
        topic = rng.choice(owners)
    else:
        text = _TEXT[category]
        issue = rng.choice(text.drift_issues if drifted and rng.random() < 0.5 else text.issues)
    fill = _SlotFiller(rng, pools)
    return _subject(rng, fill, issue), _description(rng, fill, topic, issue)


# --------------------------------------------------------------------------- API


def generate_tickets(
    n_rows: int = 3000,
    *,
    seed: int = 13,
    drifted: bool = False,
    start: datetime.date | None = None,
    months: int = 9,
) -> list[DemoTicket]:
    """Generate ``n_rows`` synthetic tickets sorted by ``created_at``.

    Categories follow :data:`CATEGORY_SHARES` (or :data:`DRIFTED_CATEGORY_SHARES`
    when ``drifted``) as exact quotas in random order; timestamps lie in
    ``[start, start + months)``. ``start`` defaults to 2025-01-01 for the normal
    stream and to 2025-10-01 (right after the default nine-month normal period)
    for the drifted one. Ticket ids are sequential (``TCK-000001``, ...) in time
    order. Raises ValueError if ``n_rows`` or ``months`` is not a positive int.
    """
    _check_positive_int("n_rows", n_rows)
    _check_positive_int("months", months)
    if start is None:
        start = _add_months(_DEFAULT_START, _DEFAULT_MONTHS) if drifted else _DEFAULT_START
    elif not isinstance(start, datetime.date) or isinstance(start, datetime.datetime):
        raise ValueError(f"start must be a datetime.date, got {start!r}")

    rng = random.Random(f"demo-tickets:{seed}:{'drifted' if drifted else 'normal'}")
    pools = {**_SLOTS, **_DRIFT_SLOTS} if drifted else _SLOTS
    counts = _quotas(DRIFTED_CATEGORY_SHARES if drifted else CATEGORY_SHARES, n_rows)
    labels = [cat for cat in CATEGORIES for _ in range(counts[cat])]
    rng.shuffle(labels)
    stamps = _timestamps(rng, n_rows, start, _add_months(start, months))
    texts = [_ticket_text(rng, category, drifted, pools) for category in labels]
    return [
        DemoTicket(f"TCK-{number:06d}", created_at, subject, description, category)
        for number, (created_at, category, (subject, description)) in enumerate(zip(stamps, labels, texts), start=1)
    ]


def write_demo_csv(
    path: str | os.PathLike[str],
    n_rows: int = 3000,
    *,
    seed: int = 13,
    drifted: bool = False,
    start: datetime.date | None = None,
    months: int = 9,
) -> pathlib.Path:
    """Write the tickets of :func:`generate_tickets` to ``path`` as a CSV and return the path.

    UTF-8, a header row with :data:`COLUMNS`, minimal quoting (fields with
    commas, quotes or newlines are quoted) and ``\\n`` line endings; parent
    folders are created. Same arguments give a byte-identical file.
    """
    tickets = generate_tickets(n_rows, seed=seed, drifted=drifted, start=start, months=months)
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(astuple(ticket) for ticket in tickets)
    return target
