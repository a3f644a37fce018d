# Argument checks shared by the exported functions.

# match.arg() for the calling function's argument `arg`, with an error that names the argument,
# the value and the choices (match.arg's own says only "'arg' should be one of").
match_choice <- function(arg) {
  name <- deparse(substitute(arg))
  caller <- sys.function(sys.parent())
  choices <- eval(formals(caller)[[name]])
  tryCatch(
    match.arg(arg, choices),
    error = function(e) {
      stop(sprintf("%s = %s is not valid; expected one of %s.", name, shown(arg),
                   paste0("\"", choices, "\"", collapse = ", ")), call. = FALSE)
    }
  )
}

# A short printed form of a value for messages.
shown <- function(x) {
  if (is.null(x)) {
    return("NULL")
  }
  text <- paste(deparse(x, width.cutoff = 60L), collapse = " ")
  if (nchar(text) > 60) paste0(substr(text, 1, 57), "...") else text
}

# A single TRUE or FALSE.
check_flag <- function(x, name) {
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    stop(sprintf("%s = %s is not valid; expected TRUE or FALSE.", name, shown(x)), call. = FALSE)
  }
  x
}

# Where the fits run: NULL (this R session's Python), one non-empty string ("local", a
# scheduler address or a scheduler file; the engine checks which) or a dask.distributed.Client
# made through reticulate.
check_scheduler <- function(scheduler) {
  if (is.null(scheduler) || inherits(scheduler, "python.builtin.object") ||
      is.character(scheduler) && length(scheduler) == 1 && !is.na(scheduler) &&
      nzchar(trimws(scheduler))) {
    return(scheduler)
  }
  stop(sprintf(paste0("scheduler = %s is not valid; expected NULL (this R session), \"local\" ",
                      "(a Dask LocalCluster on this machine), a scheduler address such as ",
                      "\"tcp://host:8786\", a scheduler file (.json) or a dask.distributed.Client."),
               shown(scheduler)), call. = FALSE)
}

# A device name: "auto", "cpu", "cuda" or "cuda:N".
check_device <- function(device) {
  if (!is.character(device) || length(device) != 1 || is.na(device) ||
      !grepl("^(auto|cpu|cuda|cuda:[0-9]+)$", device)) {
    stop(sprintf("device = %s is not valid; expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\".",
                 shown(device)), call. = FALSE)
  }
  device
}
