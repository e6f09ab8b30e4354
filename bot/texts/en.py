"""What the bot says, in English. ru.py has the same keys; a test holds them to each other."""

TEXTS: dict[str, str] = {
    # /start, /help, /lang
    "start": (
        "Hello, {name}! I repaint your photos in the style of a painting.\n"
        "Send me a photo, then a second photo or one of the paintings below to borrow its style."
    ),
    "start_no_presets": (
        "Hello, {name}! I repaint your photos in the style of a painting.\n"
        "Send me a photo, then a second photo whose style I should borrow."
    ),
    "help": (
        "How it works:\n"
        "1. Send a photo (as a photo, or as a file to keep full quality), or a short clip "
        "(a GIF, a video, a round video message).\n"
        "2. Send a second picture whose style to borrow, or tap a painting from /presets.\n"
        "3. Wait a little: I show your place in the queue, then progress, then the result.\n\n"
        "/settings: output size, style strength, colours, quality\n"
        "/presets: the paintings you can pick\n"
        "/cancel: cancel your pictures in the queue\n"
        "/lang: change the language"
    ),
    "lang_prompt": "Choose your language:",
    "lang_set": "I will speak English with you now.",
    # Photos and styles
    "content_received": "Got your photo. Now send a style picture, or tap a painting:",
    "content_received_no_presets": "Got your photo. Now send a picture whose style to borrow.",
    "gallery_caption": "Paintings, page {page} of {pages}. Tap a number to use its style.",
    "no_presets": "No preset paintings are installed. Send a picture whose style to borrow.",
    "need_content": "Send me a photo first; then pick its style.",
    "preset_picked": "Style: {title} ({artist}).",
    "swapped": "Swapped: the other picture is now the photo, and this one the style.",
    "downloading": "Got it, reading your picture…",
    "clip_received": "Got your clip. Now send a style picture, or tap a painting:",
    "clip_received_no_presets": "Got your clip. Now send a picture whose style to borrow.",
    # The queue and progress
    "queued": "In the queue, place {position}. I will update this message.",
    "queued_next": "Next in the queue. I will update this message.",
    "running": "Painting… {bar} {percent}%{eta}",
    "eta": "\nAbout {time} left.",
    "starting": "Painting… starting.",
    "done_status": "Done.",
    "failed_status": "It did not work out.",
    "cancelled_status": "Cancelled.",
    "result_caption": "Here it is ({seconds:.0f} s). Want another style, or stronger or weaker?",
    "result_file": "Full quality, as a file.",
    "failed": "Sorry, I could not paint this one: {reason}",
    "cancel_done": "Cancelled.",
    "cancel_none": "You have nothing waiting in the queue.",
    "cancel_too_late": "Too late to cancel: that picture is already finished.",
    "rerun_choose_style": "Same photo again: send a new style picture, or tap a painting.",
    "rerun_queued": "Again, with new settings.",
    "poster_queued": "A {side} px poster: about {minutes} min. It comes as a file.",
    "poster_unavailable": "Posters need a GPU, and none is running just now. Try again later.",
    "timelapse_making": "Putting the film together…",
    "timelapse_caption": "How it was painted: from your photo to the painting.",
    "timelapse_busy": "The film is on its way.",
    "timelapse_gone": "That picture is too old: its film is no longer kept. Paint it again?",
    "timelapse_none": "There is no film of this one.",
    "timelapse_failed": "Sorry, I could not put the film together.",
    # Limits
    "limit_user_queued": (
        "You already have {limit} pictures in the queue. Wait for one to finish, or /cancel."
    ),
    "limit_user_hourly": "That is {limit} pictures this hour, my limit per person. Try later.",
    "limit_global": "The queue is full right now. Please try again in a few minutes.",
    "limit_uploads_hourly": (
        "That is {limit} pictures this hour, my limit per person. Please try again later."
    ),
    "limit_stored": (
        "Your pictures here have reached my limit of {limit_mb:.3g} MB per person. "
        "Older ones are forgotten after a while; please try again later."
    ),
    # Buttons
    "btn_cancel": "✖ Cancel",
    "btn_swap": "⇄ Swap photo and style",
    "btn_another": "🎨 Another style",
    "btn_stronger": "➕ Stronger",
    "btn_weaker": "➖ Weaker",
    "btn_colors": "🌈 Keep my colours",
    "btn_file": "📄 Full-quality file",
    "btn_timelapse": "🎬 How it was painted",
    "btn_poster": "🖼 Poster, {side} px (about {minutes} min)",
    "btn_prev": "◀ Back",
    "btn_next": "More ▶",
    "btn_close": "Close",
    # Bad input
    "hint_text": "Send me a photo to begin (or an image file, to keep full quality). /help",
    "hint_sticker": "Stickers are fun, but I need a photo. Send one as a photo or a file.",
    "hint_voice": "I cannot listen, sorry. Send a photo instead.",
    "hint_other": "I only understand photos, image files and short clips. /help",
    "unknown_command": "I do not know that command. /help lists what I can do.",
    "too_big": "That file is {size_mb:.3g} MB; I can take files up to {limit_mb:.3g} MB.",
    "too_big_unknown": "That file is larger than {limit_mb:.3g} MB, the most I can take.",
    "not_image": "That file is not a picture I can read. Send a JPEG, PNG or WebP image.",
    "damaged": "That picture seems damaged or incomplete. Try sending it again.",
    "too_many_pixels": "That picture is too large for me (at most {limit:.0f} megapixels).",
    "bad_shape": "That picture is too small or too narrow for me to work with.",
    "download_failed": "I could not download that file from Telegram. Please send it again.",
    "picture_gone": "I no longer have that picture. Please send it again.",
    # Clips I cannot take (engine.video.limits: ClipRejected's reasons)
    "clip_corrupt": "That file is not a video I can read. Send an MP4, a GIF or a video.",
    "clip_no_video": "That file has no video in it.",
    "clip_no_frames": "That clip has no frames I can read.",
    "clip_too_long": (
        "That clip is {seconds:.1f} s long; I can paint clips of up to {max_seconds:g} s. "
        "Trim it and send it again."
    ),
    "clip_too_many_frames": (
        "That clip has {frames} frames at {fps:.3g} frames a second; I can paint up to "
        "{max_frames}. Send a shorter one."
    ),
    "clip_too_large": (
        "That clip is {width} x {height} pixels; I take at most {max_side} pixels on each side."
    ),
    "too_many_updates": (
        "You are sending faster than I can read, so I skipped some of your last messages. "
        "Wait for my answers, then send the rest again."
    ),
    "stale_button": "This button is out of date.",
    "not_yours": "That is not your picture.",
    "not_allowed": "Sorry, this bot is private.",
    "error": "Something went wrong on my side. Please try again.",
    # Why a picture could not be painted (the reason in "failed")
    "failure_bad_picture": "one of the pictures could not be read.",
    "failure_missing_picture": "one of the pictures is no longer here; please send it again.",
    "failure_bad_options": "the chosen settings are not valid any more; check /settings.",
    "failure_out_of_memory": "it is too large for me right now; try a smaller size in /settings.",
    "failure_engine_stopped": "the painter stopped while working on it, several times.",
    "failure_engine_error": "something went wrong on my side.",
    "failure_bad_clip": "the clip could not be read, or it is over my painter's limits.",
    "failure_unknown": "something went wrong on my side.",
    # /settings
    "settings_title": (
        "Your settings (used for every picture from now on):\n"
        "• Output size: {size}\n"
        "• Style strength: {strength}\n"
        "• Keep my colours: {keep_colors}\n"
        "• Quality: {quality}\n"
        "• Always send a full-quality file: {send_file}\n"
        "• Live preview while painting: {previews}"
    ),
    "settings_pick": "{name}: choose a value.",
    "setting_size": "Output size",
    "setting_strength": "Style strength",
    "setting_colors": "Keep my colours",
    "setting_quality": "Quality",
    "setting_file": "Full-quality file",
    "setting_previews": "Live preview",
    "size_auto": "automatic",
    "size_px": "{size} px",
    "yes": "yes",
    "no": "no",
    "strength_0.5": "gentle",
    "strength_1.0": "normal",
    "strength_1.5": "strong",
    "strength_2.5": "very strong",
    "quality_fast": "fast",
    "quality_balanced": "balanced",
    "quality_high": "best (slow)",
    "settings_saved": "Saved.",
    # /stats
    "stats": (
        "Queue: {queued} waiting, {running} running.\n"
        "Workers alive: {workers}.\n"
        "Last hour: {done_hour} done, {failed_hour} failed."
    ),
    "stats_undeliverable": "\nUndeliverable in the last 24 hours: {count}. Latest: {latest}",
    "admins_only": "Only the bot's admins can see that.",
    "admin_error": "Error while handling an update: {error}",
    # Commands, for Telegram's menu
    "cmd_start": "Start over",
    "cmd_help": "How to use the bot",
    "cmd_settings": "Size, strength, colours, quality",
    "cmd_presets": "Preset paintings",
    "cmd_cancel": "Cancel my pictures in the queue",
    "cmd_lang": "Change the language",
}
