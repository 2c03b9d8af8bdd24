"""A tiny browser for driving oidc-provider's pages in tests: keeps cookies,
follows redirects, fills and submits the first form of each page (login name,
password, confirm/consent buttons)."""
import html.parser
import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request


class _Forms(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = {"action": attrs.get("action", ""), "method": attrs.get("method", "get").lower(),
                             "fields": {}}
            self.forms.append(self._current)
        elif tag in ("input", "button") and self._current is not None:
            name = attrs.get("name")
            if name and attrs.get("type") not in ("checkbox",):
                self._current["fields"].setdefault(name, attrs.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


class Browser:
    def __init__(self, login, password="any-password"):
        self.login = login
        self.password = password
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.url = None
        self.page = ""

    def open(self, url, data=None):
        request = urllib.request.Request(url, data=data)
        try:
            with self.opener.open(request, timeout=15) as response:
                self.url = response.geturl()
                self.page = response.read().decode(errors="replace")
                return response.status
        except urllib.error.HTTPError as error:
            self.url = error.geturl()
            self.page = error.read().decode(errors="replace")
            return error.code

    def submit_first_form(self):
        parser = _Forms()
        parser.feed(self.page)
        if not parser.forms:
            return False
        form = parser.forms[0]
        fields = dict(form["fields"])
        if "login" in fields:
            fields["login"] = self.login
        if "password" in fields:
            fields["password"] = self.password
        action = urllib.parse.urljoin(self.url, form["action"] or self.url)
        data = urllib.parse.urlencode(fields).encode()
        if form["method"] == "post":
            self.open(action, data)
        else:
            self.open(action + "?" + data.decode())
        return True

    def complete(self, url, max_steps=6):
        """Opens `url` and submits forms until a page without a form."""
        self.open(url)
        for _ in range(max_steps):
            if not self.submit_first_form():
                break
        return self.page
