// whiskers demo site: proves scripts are served with text/javascript.
document.body.dataset.servedBy = "whiskers-wasm";
