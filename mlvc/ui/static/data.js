"use strict";
// `mlvc ui` answers the page's queries live; `mlvc ui --export` replaces this file with
// window.MLVC_DATA, every answer written out, so the page works from disk.
