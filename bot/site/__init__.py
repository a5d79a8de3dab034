"""The public pages "Il Piano in cifre" and the plan's open data: HTML, SVG and files.

Served by the bot's aiohttp server (`bot.site.server`) and written as static files
(`bot.site.build`, `python -m bot site build DIR`), from the same database as the bot.
Nothing here imports Telegram: what people read comes from `bot.services`.

URLs (the same in both): Italian at the root, English under `/en/`; directory-style so any
web server serves the built files (`strategie/S1/index.html`):

    /  /strategie/<id>/  /zone/<id>/  /azioni/<code>/  /azioni/<code>/qr.svg  /eventi/  /dati/
"""
