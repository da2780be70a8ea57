from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from portal import api_page
from training import views as training_views

admin.site.site_header = "Custom Vision administration"
admin.site.site_title = "Custom Vision admin"

urlpatterns = [
    # First: every prediction resolves its route, and the API's paths are a prefix of their own.
    path("", include("api.urls")),
    path("", RedirectView.as_view(pattern_name="projects:list", permanent=False), name="home"),
    path("signin/", auth_views.LoginView.as_view(), name="login"),
    path("signout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", api_page.api_page, name="api_page"),
    # Outside the app namespaces: the API hands these links out too (GetExports' downloadUri).
    path("exports/<str:token>/<str:name>", training_views.export_download, name="export_download"),
    path("", include("projects.urls")),
    path("", include("training.urls")),
    path("", include("prediction.urls")),
    path("admin/", admin.site.urls),
]
