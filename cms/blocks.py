from django.utils.translation import gettext_lazy as _
from wagtail import blocks
from wagtail.images.blocks import ImageBlock


class BodyBlock(blocks.StreamBlock):
    heading = blocks.CharBlock(label=_("heading"), form_classname="title")
    paragraph = blocks.RichTextBlock(label=_("paragraph"), features=["bold", "italic", "link", "ol", "ul"])
    image = ImageBlock(label=_("image"))
